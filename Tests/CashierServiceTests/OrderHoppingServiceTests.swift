import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// Order hopping through the real service: one group's database made unwritable mid-run.
final class OrderHoppingServiceTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!

    override func setUpWithError() throws {
        guard DatabaseLock.isAvailable else {
            throw XCTSkip("the sqlite3 tool (Debian package sqlite3) is needed to lock a group from another process")
        }
        service = try Cashierd(groups: 3, tweak: { $0.hopping.halfLifeSeconds = 3 })
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    /// Holds an exclusive write lock on a group's database from another process until released.
    private func lockGroup(_ tag: Int) throws -> DatabaseLock {
        try DatabaseLock(databasePath: (service.dataPath as NSString).appendingPathComponent("group-0\(tag).sqlite"))
    }

    func testNewOrdersHopAroundAnUnwritableGroupAndComeBackWhenHealed() throws {
        // Some orders in every group first.
        var before: [OrderView] = []
        for _ in 0..<30 { before.append(try terminal.createOrder(amount: 100).unwrap()) }
        XCTAssertEqual(Set(before.map { $0.orderNo.group.value }), [0, 1, 2])
        let inGroup1 = before.first { $0.orderNo.group.value == 1 }!

        let lock = try lockGroup(1)
        defer { lock.release() }

        // Every new order succeeds, none in the locked group.
        var during: [OrderView] = []
        for _ in 0..<60 {
            let order = try terminal.createOrder(amount: 250).unwrap()
            during.append(order)
            XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        }
        XCTAssertEqual(during.count, 60)
        XCTAssertFalse(during.contains { $0.orderNo.group.value == 1 }, "no order may land in the locked group")

        // An order that lives in the locked group: a write answers "retry later", never a wrong answer.
        guard case .failure(.service(let e)) = terminal.pay(inGroup1.orderNo, code: paymentCode(.paid)) else {
            return XCTFail("paying an order in an unwritable group must not succeed")
        }
        XCTAssertEqual(e.code, .groupUnavailable)
        XCTAssertTrue(e.retryable)
        let metrics = try CurlConnection(configuration: service.httpConfiguration()).perform(method: "GET", url: service.urls[0] + "/metrics").get()
        let text = String(decoding: metrics.body, as: UTF8.self)
        XCTAssertTrue(text.contains("cashierd_group_hops_total{group=\"01\"}"), "hops away from group 01 are counted")
        let health = try API.decode(HealthResponse.self, from: CurlConnection(configuration: service.httpConfiguration())
            .perform(method: "GET", url: service.urls[0] + "/healthz").get().body)
        XCTAssertEqual(health.status, "degraded")
        XCTAssertEqual(health.groups.first { $0.group == 1 }?.accepting, false)

        // Heal: release the lock. Failure counts decay and the group takes orders again.
        lock.release()
        let healDeadline = Date().addingTimeInterval(30)
        while Date() < healDeadline {
            let h = try API.decode(HealthResponse.self, from: CurlConnection(configuration: service.httpConfiguration())
                .perform(method: "GET", url: service.urls[0] + "/healthz").get().body)
            if h.status == "ok" { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        var healedGroups = Set<Int>()
        for _ in 0..<60 where !healedGroups.contains(1) {
            healedGroups.insert(try terminal.createOrder(amount: 100).unwrap().orderNo.group.value)
        }
        XCTAssertTrue(healedGroups.contains(1), "the healed group takes new orders again")
        XCTAssertEqual(try terminal.pay(inGroup1.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        XCTAssertEqual(try service.admin(["reconcile"]).status, 0)
    }

    func testMergedOrderListIsNewestFirstAcrossGroups() throws {
        var created: [OrderNumber] = []
        for i in 0..<25 {
            created.append(try terminal.createOrder(amount: Int64(100 + i)).unwrap().orderNo)
        }
        XCTAssertGreaterThan(Set(created.map(\.group)).count, 1)
        var seen: [OrderSummary] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try terminal.list(limit: 10, cursor: cursor).unwrap()
            XCTAssertEqual(page.unavailableGroups, [])
            seen += page.orders
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil && pages < 10
        XCTAssertEqual(seen.count, 25)
        XCTAssertEqual(Set(seen.map(\.orderNo)), Set(created))
        let keys = seen.map { ($0.createdAt, $0.orderNo.digits) }
        for (a, b) in zip(keys, keys.dropFirst()) {
            XCTAssertTrue(a.0 > b.0 || (a.0 == b.0 && a.1 > b.1), "newest first")
        }
        guard case .failure(.service(let e)) = terminal.list(limit: 500) else { return XCTFail() }
        XCTAssertEqual(e.code, .invalidField)
        guard case .failure(.service(let e2)) = terminal.list(cursor: "garbage") else { return XCTFail() }
        XCTAssertEqual(e2.code, .invalidField)
    }

    /// The back office's list: `cashierd merchant orders` pages one merchant's orders from all its stores
    /// and every group, newest first, and shows no other merchant's.
    func testMerchantOrdersSpanTheMerchantsStoresAndEveryGroup() throws {
        func admin(_ args: [String]) throws -> String {
            let r = try service.admin(args)
            guard r.status == 0 else { throw RuntimeError("cashierd \(args.joined(separator: " ")): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        /// A terminal of a new store of `merchant`.
        func terminalOfNewStore(merchant: String, name: String) throws -> TestTerminal {
            let store = try service.addSandboxStore(merchant: merchant, name: name)
            let code = try admin(["activation-code", "--store", store])
            return TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal(code: code))
        }
        let merchant = terminal.credentials.store.merchantId
        let secondShop = try terminalOfNewStore(merchant: merchant, name: "Second shop")
        let otherMerchant = try admin(["merchant", "add", "Someone else"])
        let stranger = try terminalOfNewStore(merchant: otherMerchant, name: "Elsewhere")

        // Nine pairs at least, and more until every group has some (hopping picks groups at random: nine pairs
        // miss one of three groups about once in 500 runs).
        var mine: [OrderNumber] = []
        var pairs = 0
        repeat {
            mine.append(try terminal.createOrder(amount: Int64(100 + pairs)).unwrap().orderNo)
            mine.append(try secondShop.createOrder(amount: Int64(200 + pairs)).unwrap().orderNo)
            _ = try stranger.createOrder(amount: 300).unwrap()
            pairs += 1
        } while pairs < 9 || (Set(mine.map(\.group.value)).count < 3 && pairs < 40)
        XCTAssertEqual(Set(mine.map(\.group.value)), [0, 1, 2], "the merchant's orders are spread over every group")

        var rows: [[Substring]] = []
        var cursor: String?
        var pages = 0
        repeat {
            var args = ["merchant", "orders", merchant, "--limit", "5"]
            if let cursor { args += ["--cursor", cursor] }
            let lines = try admin(args).split(separator: "\n")
            cursor = lines.last.flatMap { $0.hasPrefix("next: --cursor ") ? String($0.dropFirst("next: --cursor ".count)) : nil }
            rows += lines.filter { !$0.hasPrefix("next: ") }.map { $0.split(separator: "\t") }
            pages += 1
        } while cursor != nil && pages < 20
        // A full last page may still say "next" (there may be more): then one empty page ends it.
        let fullPages = (mine.count + 4) / 5
        XCTAssertTrue(pages == fullPages || (mine.count % 5 == 0 && pages == fullPages + 1), "\(mine.count) orders in \(pages) pages of 5")
        XCTAssertEqual(rows.map { String($0[0]) }, mine.reversed().map(\.digits), "newest first, across stores and groups")
        XCTAssertEqual(Set(rows.map { String($0[2]) }), [terminal.credentials.store.storeId, secondShop.credentials.store.storeId])
        XCTAssertEqual(rows.first.map { $0.count }, 5, "number, created, store, status, amount")
        XCTAssertEqual(rows.first.map { String($0[4]) }, "\(Money(minorUnits: Int64(200 + pairs - 1)).decimalString) CNY")

        let unknown = try service.admin(["merchant", "orders", "MNOSUCHMERCHANT"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no merchant"), unknown.stderr)
        let badCursor = try service.admin(["merchant", "orders", merchant, "--cursor", "garbage"])
        XCTAssertEqual(badCursor.status, 1)
        XCTAssertTrue(badCursor.stderr.contains("--cursor"), badCursor.stderr)
        XCTAssertEqual(try service.admin(["merchant", "orders"]).status, 2)
    }
}
