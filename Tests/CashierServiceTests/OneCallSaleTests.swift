import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// The one-call sale (`POST /v1/sales`): placed, claimed and paid in one request; idempotent by the
/// number the terminal holds, on either instance, so no retry can ever make a second order.
final class OneCallSaleTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func numbers(_ count: Int, via t: TestTerminal? = nil) throws -> [OrderNumber] {
        let t = t ?? terminal!
        return try t.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: count)),
                                    credentials: t.credentials).decoded(OrderNumbersResponse.self).get().orderNumbers
    }

    private func sell(_ number: OrderNumber, amount: Int64 = 1_250, code: String, reserve: Int? = nil,
                      via t: TestTerminal? = nil) -> Result<SaleResponse, CallFailure> {
        let t = t ?? terminal!
        return t.transport.call("POST", API.Path.sales,
                                body: API.encode(SaleRequest(orderNo: number, amount: amount, paymentCode: code, reserve: reserve)),
                                credentials: t.credentials).decoded(SaleResponse.self)
    }

    private func paidAtChannel() throws -> Int {
        let r = try service.admin(["reconcile"])
        XCTAssertTrue(r.stdout.contains("reconciliation: EXACT"), r.stdout)
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("paid orders in groups:") } ?? ""
        return Int(line.split(separator: " ").last ?? "") ?? -1
    }

    func testASaleIsPlacedAndPaidInOneRequestAndBringsNumbersForTheNext() throws {
        let given = try numbers(3)
        XCTAssertEqual(given.count, 3)
        XCTAssertEqual(Set(given.map(\.group.value)), [0, 1], "numbers spread over the groups that take orders")
        let answer = try sell(given[0], code: paymentCode(.paid), reserve: 2).get()
        XCTAssertEqual(answer.order.orderNo, given[0])
        XCTAssertEqual(answer.order.status, .paid)
        XCTAssertEqual(answer.order.amount, 1_250)
        XCTAssertEqual(answer.orderNumbers.count, 2)
        XCTAssertTrue(Set(answer.orderNumbers).isDisjoint(with: given), "fresh numbers")
        let sales = try service.requestLog().filter { ($0["path"] as? String)?.hasPrefix("/v1/orders") == true || $0["path"] as? String == API.Path.sales }
        XCTAssertEqual(sales.map { $0["path"] as? String }, [API.Path.sales], "one request, no create and no pay")
        XCTAssertEqual(sales.first?["status"] as? Int, 201)
        XCTAssertEqual(try paidAtChannel(), 1)
    }

    /// The answer is lost and the terminal sends the same sale again, to the same instance and to another:
    /// each copy meets the one order, and the customer is charged once.
    func testTheSameSaleSentAgainAnywhereMeetsItsOrderAndChargesOnce() throws {
        let number = try numbers(1)[0]
        let code = paymentCode(.userConfirms)
        let first = try sell(number, code: code).get()
        XCTAssertEqual(first.order.status, .paying)
        let (other, otherURL) = try service.startAnotherInstance(listen: "127.0.0.2:0", extraArguments: ["--instance", "9"])
        defer { other.stop() }
        let elsewhere = TestTerminal(transport: try SignedTransport(baseURL: otherURL, http: service.httpConfiguration()),
                                     credentials: terminal.credentials)
        var last = first.order
        let deadline = Date().addingTimeInterval(20)
        while last.status == .paying && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.3)
            last = try sell(number, code: code, via: Bool.random() ? terminal : elsewhere).get().order
            XCTAssertEqual(last.orderNo, number)
        }
        XCTAssertEqual(last.status, .paid)
        XCTAssertEqual(try sell(number, code: code, via: elsewhere).get().order.status, .paid)
        XCTAssertEqual(try terminal.list(limit: 100).unwrap().orders.map(\.orderNo), [number], "one order")
        XCTAssertEqual(try paidAtChannel(), 1)
    }

    func testConcurrentCopiesOfOneSalePlaceOneOrder() throws {
        let number = try numbers(1)[0]
        let code = paymentCode(.paid)
        let box = LockedBox<[Result<SaleResponse, CallFailure>]>()
        box.value = []
        let transports = try (0..<8).map { _ in try service.transport() }
        let credentials = terminal.credentials
        let body = API.encode(SaleRequest(orderNo: number, amount: 1_250, paymentCode: code))
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let r = transports[i].call("POST", API.Path.sales, body: body, credentials: credentials).decoded(SaleResponse.self)
            box.mutate { $0!.append(r) }
        }
        let results = box.value ?? []
        XCTAssertEqual(results.count, 8)
        for r in results {
            switch r {
            case .success(let a): XCTAssertTrue([.paid, .paying].contains(a.order.status), "\(a.order.status)")
            case .failure(let f): XCTFail("a copy failed: \(f)")
            }
        }
        XCTAssertEqual(try terminal.query(number).unwrap().status, .paid)
        XCTAssertEqual(try terminal.list(limit: 100).unwrap().orders.count, 1)
        XCTAssertEqual(try paidAtChannel(), 1)
    }

    /// Refused before its commit: nothing is placed under the number and the channel is not called.
    func testRefusalsPlaceNothing() throws {
        let given = try numbers(2)
        let cases: [(SaleRequest, ErrorCode)] = [
            (SaleRequest(orderNo: given[0], amount: 0, paymentCode: paymentCode(.paid)), .amountInvalid),
            (SaleRequest(orderNo: given[0], amount: 100, paymentCode: "134567890123456780"), .channelNotConfigured),
            (SaleRequest(orderNo: given[0], amount: 100, paymentCode: "12"), .paymentCodeInvalid),
            (SaleRequest(orderNo: OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: 1, group: given[0].group),
                         amount: 100, paymentCode: paymentCode(.paid)), .invalidField),
        ]
        for (request, code) in cases {
            guard case .failure(.service(let e)) = terminal.transport.call("POST", API.Path.sales, body: API.encode(request),
                                                                         credentials: terminal.credentials) else {
                return XCTFail("\(request) must be refused")
            }
            XCTAssertEqual(e.code, code)
        }
        guard case .failure(.service(let gone)) = terminal.query(given[0]) else { return XCTFail("nothing may be placed") }
        XCTAssertEqual(gone.code, .orderNotFound)
        // The number used for one sale cannot carry another.
        XCTAssertEqual(try sell(given[1], amount: 500, code: paymentCode(.paid)).get().order.status, .paid)
        guard case .failure(.service(let conflict)) = sell(given[1], amount: 700, code: paymentCode(.paid)) else {
            return XCTFail("another sale on a used number must be refused")
        }
        XCTAssertEqual(conflict.code, .idempotencyConflict)
        XCTAssertEqual(try paidAtChannel(), 1)
    }

    /// The terminal gives up on a sale that never landed (its deadline passed): the reverse closes the
    /// number, and the late copy, arriving after, is refused without reaching the channel.
    func testAReverseBeforeTheSaleLandsClosesItsNumberForGood() throws {
        let number = try numbers(1)[0]
        let closed = try terminal.reverse(number).unwrap()
        XCTAssertEqual(closed.status, .closed)
        XCTAssertEqual(closed.orderNo, number)
        guard case .failure(.service(let e)) = sell(number, amount: 1_250, code: paymentCode(.paid)) else {
            return XCTFail("a sale on a closed number must be refused")
        }
        XCTAssertTrue([.orderNotPayable, .idempotencyConflict].contains(e.code), "\(e)")
        XCTAssertEqual(try paidAtChannel(), 0)
    }

    /// A sale whose group cannot take its commit is GROUP_UNAVAILABLE: nothing placed, nothing charged;
    /// the same code then sells on a number of another group.
    func testASaleInAGroupThatCannotCommitPlacesNothingAndTheNextNumberSells() throws {
        guard DatabaseLock.isAvailable else { throw XCTSkip("the sqlite3 tool is needed to lock a group") }
        let given = try numbers(4)
        let locked = given[0]
        let lock = try DatabaseLock(databasePath: (service.dataPath as NSString)
            .appendingPathComponent(String(format: "group-%02d.sqlite", locked.group.value)))
        defer { lock.release() }
        let code = paymentCode(.paid)
        guard case .failure(.service(let e)) = sell(locked, code: code) else { return XCTFail("the locked group took the sale") }
        XCTAssertEqual(e.code, .groupUnavailable)
        let elsewhere = try XCTUnwrap(given.first { $0.group != locked.group })
        XCTAssertEqual(try sell(elsewhere, code: code).get().order.status, .paid, "the code was not spent")
        lock.release()
        guard case .failure(.service(let none)) = terminal.query(locked) else { return XCTFail("nothing may be placed") }
        XCTAssertEqual(none.code, .orderNotFound)
        XCTAssertEqual(try paidAtChannel(), 1)
    }
}
