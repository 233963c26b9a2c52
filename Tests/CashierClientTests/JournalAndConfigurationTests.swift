import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// The journal, keystore and configuration on real files, no network.
final class JournalAndConfigurationTests: XCTestCase {
    func testUnfinishedSalesSurviveReopeningAndFinishedOnesDropOut() throws {
        let dir = try TemporaryDirectory()
        var sale = SaleStateMachine(request: CreateOrderRequest(amount: 100), paymentCode: "990000000000000001")
        _ = sale.start(nowMs: 1_000)
        do {
            let journal = try Journal(path: dir.file("j.sqlite"))
            try journal.saveSale(id: "a", sale)
        }
        let reopened = try Journal(path: dir.file("j.sqlite"))
        let pending = try reopened.unfinishedSales()
        XCTAssertEqual(pending.map(\.id), ["a"])
        XCTAssertEqual(pending.first?.sale, sale)
        _ = sale.handle(.createFailed(.transport(.notSent("down"))), nowMs: 2_000)
        XCTAssertTrue(sale.phase.isFinal)
        try reopened.saveSale(id: "a", sale)
        XCTAssertTrue(try reopened.unfinishedSales().isEmpty)
    }

    func testUnconfirmedRefundLendsItsReferenceToTheRetry() throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal(path: dir.file("j.sqlite"))
        let order = OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: 7, group: GroupTag(3)!)
        var refund = RefundStateMachine(order: order, amount: 500, refundRef: "ref-1", maxAttempts: 1)
        for action in refund.start(nowMs: 0) { if case .persist(let s) = action { try journal.saveRefund(s) } }
        XCTAssertEqual(try journal.pendingRefundRef(order: order, amount: 500), "ref-1")
        XCTAssertNil(try journal.pendingRefundRef(order: order, amount: 400))
        // No answer after all attempts: still pending, so the next command reuses the reference.
        for action in refund.handle(.failed(.transport(.uncertain("timeout"))), nowMs: 10) {
            if case .persist(let s) = action { try journal.saveRefund(s) }
        }
        XCTAssertEqual(try journal.pendingRefundRef(order: order, amount: 500), "ref-1")
    }

    func testConfigurationDefaultsPathsAndErrors() throws {
        let dir = try TemporaryDirectory()
        XCTAssertEqual(ClientConfiguration.defaultPath(explicit: nil, environment: ["XDG_CONFIG_HOME": "/x"]), "/x/cashier/config.json")
        XCTAssertEqual(ClientConfiguration.defaultPath(explicit: nil, environment: ["HOME": "/h"]), "/h/.config/cashier/config.json")
        XCTAssertEqual(ClientConfiguration.defaultPath(explicit: nil, environment: ["CASHIER_CONFIG": "/c.json", "HOME": "/h"]), "/c.json")
        let missing = try ClientConfiguration.load(path: dir.file("none.json"))
        XCTAssertEqual(missing.keystorePath, dir.file("keystore.json"))
        try Data(#"{"request_timeout_ms": 500, "domains": ["https://a", "https://b"]}"#.utf8).write(to: URL(fileURLWithPath: dir.file("c.json")))
        let partial = try ClientConfiguration.load(path: dir.file("c.json"))
        XCTAssertEqual(partial.requestTimeoutMs, 500)
        XCTAssertEqual(partial.probe, ProbeConfiguration())
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: dir.file("bad.json")))
        XCTAssertThrowsError(try ClientConfiguration.load(path: dir.file("bad.json"))) { error in
            XCTAssertEqual((error as? APIError)?.code, .configInvalid)
        }
    }

    func testKeystoreIsOwnerOnlyAndRefusedWhenOthersCanRead() throws {
        let dir = try TemporaryDirectory()
        let store = Keystore(path: dir.file("k/keystore.json"))
        XCTAssertNil(try store.load())
        let creds = DeviceCredentials(deviceId: "D1", deviceSecret: String(repeating: "0f", count: 32),
                                      store: StoreInfo(storeId: "S", storeName: "n", merchantId: "M", merchantName: "m", currency: "CNY"))
        try store.save(creds)
        var info = stat()
        XCTAssertEqual(stat(store.path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        XCTAssertEqual(try store.load(), creds)
        chmod(store.path, 0o640)
        XCTAssertThrowsError(try store.load()) { XCTAssertEqual(($0 as? APIError)?.code, .keystoreInsecure) }
    }
}
