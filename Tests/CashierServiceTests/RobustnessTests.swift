import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// Bad requests of every kind get a clear error code and never crash the service or lose data.
final class RobustnessTests: XCTestCase {
    var service: Cashierd!
    var credentials: DeviceCredentials!

    override func setUpWithError() throws {
        service = try Cashierd(tweak: { $0.limits.maxBodyBytes = 4096 })
        credentials = try service.activateTerminal()
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func signedRaw(_ method: String, _ path: String, body: [UInt8]) throws -> (Int, APIError?) {
        let transport = try service.transport()
        switch transport.call(method, path, body: body, credentials: credentials) {
        case .success(let a): return (a.status, nil)
        case .failure(.service(let e)): return (e.code.httpStatus, e)
        case .failure(let f): throw RuntimeError("\(f)")
        }
    }

    func testMalformedBodiesGetMalformedRequest() throws {
        let bodies: [String] = [
            "", "{", "not json", "[]", "null", #"{"amount": "12.34"}"#, #"{"amount": 12.5}"#, #"{"amount": null}"#,
            #"{"amount": 100, "items": "x"}"#, #"{"amount": 100, "items": [{"name": 5}]}"#, #"{"amount": 1e400}"#,
            String(repeating: "[", count: 3000), #"{"amount":"# + String(repeating: "9", count: 40) + "}",
            "{\"amount\": 100, \"client_ref\": \"\u{0}\"}\u{0}",
        ]
        for body in bodies {
            let (status, error) = try signedRaw("POST", API.Path.orders, body: Array(body.utf8))
            XCTAssertTrue([400, 413].contains(status), "\(body.prefix(40)) → \(status)")
            XCTAssertNotNil(error, "\(body.prefix(40))")
            XCTAssertTrue([.malformedRequest, .invalidField, .amountInvalid].contains(error!.code), "\(body.prefix(40)) → \(error!.code)")
        }
        let (_, missing) = try signedRaw("POST", API.Path.orders, body: Array(#"{"items": []}"#.utf8))
        XCTAssertEqual(missing?.code, .malformedRequest)
        XCTAssertEqual(missing?.detail, "missing field amount")
    }

    func testOversizedBodyIsRefused() throws {
        let big = Array(("{\"amount\": 100, \"client_ref\": \"" + String(repeating: "x", count: 10_000) + "\"}").utf8)
        let (status, error) = try signedRaw("POST", API.Path.orders, body: big)
        XCTAssertEqual(status, 413)
        XCTAssertEqual(error?.code, .bodyTooLarge)
    }

    func testUnknownRoutesAndMethods() throws {
        let conn = try CurlConnection(configuration: service.httpConfiguration())
        for (method, path, code) in [("GET", "/nope", ErrorCode.notFound), ("GET", "/v1/orders/", .notFound),
                                     ("DELETE", "/v1/orders", .methodNotAllowed), ("GET", "/v1/activate", .methodNotAllowed),
                                     ("GET", "/v1/orders/12345/pay", .methodNotAllowed), ("GET", "/v1/orders/\(String(repeating: "1", count: 23))/x", .notFound),
                                     // A malformed order number is judged after authentication: unsigned, that comes first.
                                     ("GET", "/v1/orders/12345", .signatureMissing)] {
            let r = try conn.perform(method: method, url: service.urls[0] + path).get()
            XCTAssertEqual((try? API.decode(ErrorEnvelope.self, from: r.body))?.error.code, code, "\(method) \(path)")
        }
    }

    func testServiceStaysUpAndDataIsIntactAfterAbuse() throws {
        let t = TestTerminal(transport: try service.transport(), credentials: credentials)
        let order = try t.createOrder(amount: 4321).unwrap()
        XCTAssertEqual(try t.pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        // A burst of garbage over raw sockets: half requests, binary noise, absurd headers.
        for payload in ["GARBAGE\r\n\r\n", "POST /v1/orders HTTP/1.1\r\nContent-Length: 99999999\r\n\r\nabc",
                        "GET /" + String(repeating: "a", count: 20_000) + " HTTP/1.1\r\n\r\n", "\u{1}\u{2}\u{3}\r\n\r\n"] {
            sendRaw(payload, to: service.urls[0])
        }
        XCTAssertTrue(service.child!.process.isRunning)
        let after = try t.query(order.orderNo).unwrap()
        XCTAssertEqual(after.status, .paid)
        XCTAssertEqual(after.amount, 4321)
    }

    /// Writes bytes to the service's TCP port in the clear (the TLS layer refuses them; nothing may crash).
    private func sendRaw(_ text: String, to url: String) {
        let hostPort = url.replacingOccurrences(of: "https://", with: "")
        let parts = hostPort.split(separator: ":")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(parts[1])!).bigEndian
        inet_pton(AF_INET, String(parts[0]), &addr.sin_addr)
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return }
        _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 512)
        _ = recv(fd, &buffer, buffer.count, 0)
    }
}
