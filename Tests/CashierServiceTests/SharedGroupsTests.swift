import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// Order groups shared through the base data: two hosts (each with a data directory of its own) follow a
/// scale-out and a scale-in made against one of them, within seconds, with no file copied.
final class SharedGroupsTests: XCTestCase {
    private func numberGroups(_ t: TestTerminal) throws -> Set<Int> {
        Set(try t.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: 20)), credentials: t.credentials)
            .decoded(OrderNumbersResponse.self).unwrap().orderNumbers.map(\.group.value))
    }

    /// Polls (bounded) until every terminal's numbers lie in exactly `groups`.
    private func waitForGroups(_ groups: Set<Int>, _ terminals: [TestTerminal], file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date().addingTimeInterval(10)
        var seen: [Set<Int>] = []
        while Date() < deadline {
            seen = try terminals.map(numberGroups)
            if seen.allSatisfy({ $0 == groups }) { return }
            Thread.sleep(forTimeInterval: 0.2)
        }
        XCTFail("numbers lie in \(seen), not \(groups)", file: file, line: line)
    }

    func testGroupsSharedInTheBaseDataReachEveryHostWithNoFileCopied() throws {
        let a = try Cashierd(groups: 2)
        defer { a.stop() }
        let b = try Cashierd.anotherHost(sharingDataOf: a)
        defer { b.stop() }
        let shared = try a.admin(["groups", "share"])
        XCTAssertEqual(shared.status, 0, shared.stderr)
        XCTAssertTrue(shared.stdout.contains("are shared in the base data"), shared.stdout)
        XCTAssertNotEqual(try a.admin(["groups", "share"]).status, 0, "shared once")
        let credentials = try a.activateTerminal()
        let ta = TestTerminal(transport: try a.transport(), credentials: credentials)
        let tb = TestTerminal(transport: try b.transport(), credentials: credentials)
        try waitForGroups([0, 1], [ta, tb])
        let bFile = (b.dataPath as NSString).appendingPathComponent(ServiceRuntime.configurationFile)
        let bBefore = try Data(contentsOf: URL(fileURLWithPath: bFile))

        // Scale out against host a only: both hosts give numbers in the new group.
        let added = try a.admin(["groups", "add", "--tag", "5"])
        XCTAssertEqual(added.status, 0, added.stderr)
        try waitForGroups([0, 1, 5], [ta, tb])
        let inFive = try XCTUnwrap(try tb.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: 20)),
                                                          credentials: tb.credentials).decoded(OrderNumbersResponse.self).unwrap()
            .orderNumbers.first { $0.group.value == 5 })
        let sale = try tb.transport.call("POST", API.Path.sales, body: API.encode(SaleRequest(orderNo: inFive, amount: 650, paymentCode: nil, tender: .cash)),
                                         credentials: tb.credentials).decoded(SaleResponse.self).unwrap()
        XCTAssertEqual(sale.order.status, .paid)

        // Scale in against host a: group 5 is copied into 5 mod 2 = 1 and routed there, on both hosts.
        let retired = try a.admin(["groups", "retire", "--tag", "5"])
        XCTAssertEqual(retired.status, 0, retired.stderr)
        XCTAssertTrue(retired.stdout.contains("into group 01"), retired.stdout)
        try waitForGroups([0, 1], [ta, tb])
        for t in [ta, tb] {
            let order = try t.query(inFive).unwrap()
            XCTAssertEqual(order.amount, 650, "the retired group's order is read where it was copied")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: bFile)), bBefore, "no file was copied to host b")
        let list = try b.admin(["groups", "list"])
        XCTAssertTrue(list.stdout.contains("tag 05 → group 01") || list.stdout.contains("tag 5 → group 1"), list.stdout)
    }
}
