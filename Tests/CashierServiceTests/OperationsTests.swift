import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// Overload protection, graceful stop, health, metrics, OpenAPI and logs of a real cashierd.
final class OperationsTests: XCTestCase {
    var service: Cashierd!

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func get(_ path: String) throws -> HTTPClientResponse {
        try CurlConnection(configuration: service.httpConfiguration()).perform(method: "GET", url: service.urls[0] + path).get()
    }

    func testOverloadRefusesListsFirstAndFastWhilePaymentsFinish() throws {
        service = try Cashierd(tweak: { $0.limits.maxInFlight = 4; $0.channel.slowDelayMs = 1_500 })
        let creds = try service.activateTerminal()
        let t = TestTerminal(transport: try service.transport(), credentials: creds)
        let orders = try (0..<3).map { _ in try t.createOrder(amount: 100).unwrap() }
        let payers = try orders.map { _ in TestTerminal(transport: try service.transport(), credentials: creds) }
        let box = ResultsBox()
        let group = DispatchGroup()
        for (i, order) in orders.enumerated() {
            group.enter()
            Thread.detachNewThread {
                box.append(payers[i].pay(order.orderNo, code: paymentCode(.slow)))
                group.leave()
            }
        }
        Thread.sleep(forTimeInterval: 0.5)
        // Three slow payments fill 3 of 4 places: lists (half the capacity) and new orders (80%) are refused at once.
        let started = Date()
        guard case .failure(.service(let listError)) = t.list() else { return XCTFail("a list was admitted under overload") }
        XCTAssertEqual(listError.code, .overloaded)
        XCTAssertTrue(listError.retryable)
        guard case .failure(.service(let createError)) = t.createOrder(amount: 100) else { return XCTFail("a new order was admitted") }
        XCTAssertEqual(createError.code, .overloaded)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0, "refusals are immediate")
        // A query of a payment under way still gets the last place.
        XCTAssertEqual(try t.query(orders[0].orderNo).unwrap().orderNo, orders[0].orderNo)
        XCTAssertEqual(group.wait(timeout: .now() + 15), .success)
        XCTAssertEqual(box.all.compactMap { try? $0.get().status }, [.paid, .paid, .paid])
        XCTAssertNoThrow(try t.list().unwrap(), "service recovers once load drops")
        let metrics = String(decoding: try get("/metrics").body, as: UTF8.self)
        XCTAssertTrue(metrics.contains("cashierd_rejections_total{priority=\"list\"} 1"), metrics)
    }

    func testGracefulStopFinishesRequestsInFlight() throws {
        service = try Cashierd(tweak: { $0.channel.slowDelayMs = 1_500 })
        let t = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let order = try t.createOrder(amount: 100).unwrap()
        let box = ResultsBox()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.append(t.pay(order.orderNo, code: paymentCode(.slow)))
            done.signal()
        }
        Thread.sleep(forTimeInterval: 0.4)
        let child = service.child!
        kill(child.process.processIdentifier, SIGTERM)
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try box.all.first?.get().status, .paid, "the payment in flight finished")
        child.process.waitUntilExit()
        XCTAssertEqual(child.process.terminationStatus, 0)
        XCTAssertNotNil(child.output.first { $0.contains("cashierd stopped") })
        // Nothing lost: a restarted service has the paid order.
        try service.start()
        XCTAssertEqual(try TestTerminal(transport: try service.transport(), credentials: t.credentials).query(order.orderNo).unwrap().status, .paid)
    }

    func testHealthMetricsOpenAPIAndLogsWithoutSecrets() throws {
        service = try Cashierd()
        let creds = try service.activateTerminal()
        let t = TestTerminal(transport: try service.transport(), credentials: creds)
        let order = try t.createOrder(amount: 999).unwrap()
        let payCode = paymentCode(.paid)
        _ = try t.pay(order.orderNo, code: payCode).unwrap()
        _ = try t.refund(order.orderNo, amount: 100, ref: "ops-1", pin: Cashierd.supervisorPIN).unwrap()

        let health = try API.decode(HealthResponse.self, from: get("/healthz").body)
        XCTAssertEqual(health.status, "ok")
        XCTAssertEqual(health.groups.map(\.group), [0, 1, 2])

        let metrics = String(decoding: try get("/metrics").body, as: UTF8.self)
        for series in ["cashierd_requests_total{route=\"pay\",status=\"200\"} 1", "cashierd_orders_created_total{group=",
                       "cashierd_request_duration_seconds_bucket{route=\"pay\",le=\"+Inf\"} 1", "cashierd_payments_total{outcome=\"paid\"} 1",
                       "# TYPE cashierd_request_duration_seconds histogram", "cashierd_in_flight"] {
            XCTAssertTrue(metrics.contains(series), "metrics lack \(series)")
        }

        let served = try JSONSerialization.jsonObject(with: Data(get("/openapi.json").body)) as! [String: Any]
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Resources/openapi.json")
        let onDisk = try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as! [String: Any]
        XCTAssertEqual(served as NSDictionary, onDisk as NSDictionary, "the served document is Resources/openapi.json (run scripts/gen-openapi.sh)")
        let paths = (served["paths"] as! [String: Any]).keys
        for p in ["/v1/orders", "/v1/orders/{order_no}/pay", "/v1/orders/{order_no}/refunds", "/v1/activate"] { XCTAssertTrue(paths.contains(p)) }

        service.stop()
        let log = try String(contentsOfFile: (service.dataPath as NSString).appendingPathComponent("requests.log"), encoding: .utf8)
        let lines = log.split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 5)
        for line in lines {
            let entry = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertNotNil(entry["status"]); XCTAssertNotNil(entry["ms"]); XCTAssertNotNil(entry["path"])
        }
        // A sample's value is a number, where a 4-digit PIN's digits can turn up by chance (a duration sum
        // of 0.0024681 s); a secret could only leak into the names, labels and help text.
        let metricsText = metrics.split(separator: "\n").map { line -> Substring in
            line.hasPrefix("#") ? line : line[..<(line.lastIndex(of: " ") ?? line.endIndex)]
        }.joined(separator: "\n")
        for secret in [creds.deviceSecret, Cashierd.supervisorPIN, payCode] {
            XCTAssertFalse(log.contains(secret), "the log holds a secret")
            XCTAssertFalse(metricsText.contains(secret), "metrics hold a secret")
        }
        XCTAssertFalse(String(decoding: try JSONSerialization.data(withJSONObject: served), as: UTF8.self).contains(creds.deviceSecret))
        // Files holding secrets are owner-only.
        for name in ["ca-key.pem", "server-key.pem", "cashierd.json"] {
            let attrs = try FileManager.default.attributesOfItem(atPath: (service.dataPath as NSString).appendingPathComponent(name))
            XCTAssertEqual((attrs[.posixPermissions] as! NSNumber).intValue & 0o077, 0, "\(name) is readable by others")
        }
    }
}

/// Several instances on one data directory, told apart by `--instance`.
final class SharedDataDirectoryTests: XCTestCase {
    func testInstancesSharingADataDirectoryMakeDistinctOrderNumbers() throws {
        let service = try Cashierd()
        defer { service.stop() }
        let (second, url) = try service.startAnotherInstance(listen: "127.0.0.1:0", extraArguments: ["--instance", "2", "--quiet"])
        defer { second.stop() }
        XCTAssertTrue(second.output.contains { $0.contains("cashierd-2 listening") }, "\(second.output)")
        let creds = try service.activateTerminal()
        let one = TestTerminal(transport: try service.transport(), credentials: creds)
        let two = TestTerminal(transport: try SignedTransport(baseURL: url, http: service.httpConfiguration()), credentials: creds)
        let a = try one.createOrder(amount: 100).unwrap()
        let b = try two.createOrder(amount: 100).unwrap()
        XCTAssertEqual(a.orderNo.instance, 1)
        XCTAssertEqual(b.orderNo.instance, 2)
        // Either instance answers for the other's orders: nothing lives in an instance.
        XCTAssertEqual(try one.pay(b.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        XCTAssertEqual(try two.query(b.orderNo).unwrap().status, .paid)
        let bad = try runCommand(Cashierd.binary, ["serve", "--data", service.dataPath, "--instance", "1000"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("--instance takes 0 to 999"), bad.stderr)
    }

    func testInstancesSharingADataDirectoryKeepEveryLineOfTheRequestLog() throws {
        let service = try Cashierd()
        defer { service.stop() }
        let (second, url) = try service.startAnotherInstance(listen: "127.0.0.1:0", extraArguments: ["--instance", "2"])
        defer { second.stop() }
        let creds = try service.activateTerminal()
        let one = TestTerminal(transport: try service.transport(), credentials: creds)
        let two = TestTerminal(transport: try SignedTransport(baseURL: url, http: service.httpConfiguration()), credentials: creds)
        // Both append to the one request log at once; neither may overwrite the other's lines.
        let group = DispatchGroup()
        for terminal in [one, two] {
            group.enter()
            Thread.detachNewThread {
                for _ in 0..<40 { _ = terminal.list(limit: 1) }
                group.leave()
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        let log = try String(contentsOfFile: (service.dataPath as NSString).appendingPathComponent("requests.log"), encoding: .utf8)
        let lists = log.split(separator: "\n").filter { $0.contains("\"path\":\"/v1/orders\"") && $0.contains("\"method\":\"GET\"") }
        XCTAssertEqual(lists.filter { $0.contains("\"cashierd-1\"") }.count, 40)
        XCTAssertEqual(lists.filter { $0.contains("\"cashierd-2\"") }.count, 40)
        XCTAssertTrue(log.split(separator: "\n").allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") }, "no line cut into another")
    }
}
