import CashierCore
import CashierStorage
import Foundation
import XCTest

// Backend-neutral checks of the storage contracts in Stores.swift. Each backend's test class calls
// these with a factory that returns a fresh, empty store; nothing here knows which database it is.

private func pin() -> PINHash { PINHash(iterations: 1, salt: [1, 2, 3], hash: [4, 5, 6, 7]) }

/// Merchant M1 with store S1 (and store S2), the fixture most base checks start from.
private func seedBase(_ s: BaseStore) throws {
    try s.insertMerchant(MerchantRecord(id: "M1", name: "Tea House", createdAt: 10))
    try s.insertStore(StoreRecord(id: "S1", merchantID: "M1", name: "Main St", currency: "CNY", createdAt: 11))
    try s.insertStore(StoreRecord(id: "S2", merchantID: "M1", name: "Harbour", currency: "CNY", createdAt: 12))
}

private func device(_ id: String) -> (String) -> DeviceRecord {
    { storeID in DeviceRecord(id: id, storeID: storeID, name: "till", secret: Array(repeating: 0xAB, count: 32), activatedAt: 500) }
}

func checkBaseStoreConformance(_ make: () throws -> BaseStore, file: StaticString = #filePath, line: UInt = #line) throws {
    // Merchants, stores, staff.
    do {
        let s = try make()
        try seedBase(s)
        XCTAssertEqual(try s.merchant(id: "M1"), MerchantRecord(id: "M1", name: "Tea House", createdAt: 10), file: file, line: line)
        XCTAssertNil(try s.merchant(id: "nope"), file: file, line: line)
        XCTAssertEqual(try s.merchants().map(\.id), ["M1"], file: file, line: line)
        XCTAssertEqual(try s.store(id: "S2")?.name, "Harbour", file: file, line: line)
        XCTAssertEqual(try s.stores().map(\.id), ["S1", "S2"], file: file, line: line)
        XCTAssertEqual(try s.store(id: "S1")?.timeZone, "UTC", file: file, line: line)
        XCTAssertTrue(try s.setStoreTimeZone(storeID: "S1", timeZone: "Asia/Shanghai"), file: file, line: line)
        XCTAssertEqual(try s.store(id: "S1")?.timeZone, "Asia/Shanghai", file: file, line: line)
        XCTAssertEqual(try s.stores().map(\.timeZone), ["Asia/Shanghai", "UTC"], file: file, line: line)
        XCTAssertFalse(try s.setStoreTimeZone(storeID: "S9", timeZone: "UTC"), file: file, line: line)
        XCTAssertThrowsError(try s.insertMerchant(MerchantRecord(id: "M1", name: "again", createdAt: 1)), file: file, line: line) {
            guard case StorageError.duplicateKey = $0 else { return XCTFail("want duplicateKey, got \($0)", file: file, line: line) }
        }
        let clerk = StaffRecord(id: "P1", storeID: "S1", name: "Ann", role: .supervisor, pinHash: pin(), createdAt: 20)
        try s.insertStaff(clerk)
        try s.insertStaff(StaffRecord(id: "P2", storeID: "S2", name: "Bo", role: .cashier, pinHash: pin(), createdAt: 21))
        XCTAssertEqual(try s.staff(storeID: "S1"), [clerk], file: file, line: line)
        XCTAssertEqual(try s.staff(storeID: "S9"), [], file: file, line: line)
    }

    // Activation codes and redeeming.
    do {
        let s = try make()
        try seedBase(s)
        try s.insertActivationCode(ActivationCodeRecord(code: "AAAA1111", storeID: "S1", createdAt: 100, expiresAt: 1_000))
        try s.insertActivationCode(ActivationCodeRecord(code: "BBBB2222", storeID: "S2", createdAt: 101, expiresAt: 1_000))
        XCTAssertEqual(try s.activationCodes(storeID: "S1").map(\.code), ["AAAA1111"], file: file, line: line)
        XCTAssertEqual(try s.activationCodes(storeID: nil).count, 2, file: file, line: line)

        XCTAssertEqual(try s.redeemActivationCode("ZZZZ9999", now: 200, makeDevice: device("X")), .unknownCode, file: file, line: line)
        XCTAssertEqual(try s.redeemActivationCode("BBBB2222", now: 1_000, makeDevice: device("X")), .expired, file: file, line: line)
        guard case .activated(let d) = try s.redeemActivationCode("AAAA1111", now: 200, makeDevice: device("D1")) else {
            return XCTFail("first redeem must activate", file: file, line: line)
        }
        XCTAssertEqual(d.storeID, "S1", file: file, line: line)
        XCTAssertEqual(try s.device(id: "D1"), d, file: file, line: line)
        XCTAssertEqual(try s.redeemActivationCode("AAAA1111", now: 201, makeDevice: device("D2")), .alreadyUsed, file: file, line: line)
        let used = try s.activationCodes(storeID: "S1").first
        XCTAssertEqual(used?.usedAt, 200, file: file, line: line)
        XCTAssertEqual(used?.deviceID, "D1", file: file, line: line)
        XCTAssertNil(try s.device(id: "D2"), file: file, line: line)

        XCTAssertEqual(try s.revokeDevice(id: "D1", now: 300), true, file: file, line: line)
        XCTAssertEqual(try s.revokeDevice(id: "nope", now: 300), false, file: file, line: line)
        XCTAssertEqual(try s.device(id: "D1")?.revokedAt, 300, file: file, line: line)
        XCTAssertEqual(try s.devices().map(\.id), ["D1"], file: file, line: line)
    }

    // Eight concurrent redeemers of one code: exactly one device.
    do {
        let s = try make()
        try seedBase(s)
        try s.insertActivationCode(ActivationCodeRecord(code: "RACE0001", storeID: "S1", createdAt: 100, expiresAt: 10_000))
        let outcomes = Collector<String>()
        runConcurrently(8, file: file, line: line) { i in
            do {
                switch try s.redeemActivationCode("RACE0001", now: 200, makeDevice: device("R\(i)")) {
                case .activated: outcomes.append("activated")
                case .alreadyUsed: outcomes.append("used")
                default: outcomes.append("other")
                }
            } catch { outcomes.append("error \(error)") }
        }
        XCTAssertEqual(outcomes.values.filter { $0 == "activated" }.count, 1, "\(outcomes.values)", file: file, line: line)
        XCTAssertEqual(outcomes.values.filter { $0 == "used" }.count, 7, "\(outcomes.values)", file: file, line: line)
        XCTAssertEqual(try s.devices().count, 1, file: file, line: line)
    }

    // Nonces and attempt counters.
    do {
        let s = try make()
        try seedBase(s)
        XCTAssertEqual(try s.recordNonce(deviceID: "D1", nonce: "n1", expiresAt: 100), true, file: file, line: line)
        XCTAssertEqual(try s.recordNonce(deviceID: "D1", nonce: "n1", expiresAt: 100), false, file: file, line: line)
        XCTAssertEqual(try s.recordNonce(deviceID: "D2", nonce: "n1", expiresAt: 100), true, file: file, line: line)
        XCTAssertEqual(try s.recordNonce(deviceID: "D1", nonce: "n2", expiresAt: 500), true, file: file, line: line)
        XCTAssertEqual(try s.pruneNonces(now: 100), 2, file: file, line: line)
        XCTAssertEqual(try s.recordNonce(deviceID: "D1", nonce: "n1", expiresAt: 900), true, file: file, line: line)
        XCTAssertEqual(try s.recordNonce(deviceID: "D1", nonce: "n2", expiresAt: 900), false, file: file, line: line)

        XCTAssertEqual(try s.countAttempt(key: "pin:D1", now: 10, windowStart: 0), 1, file: file, line: line)
        XCTAssertEqual(try s.countAttempt(key: "pin:D1", now: 20, windowStart: 0), 2, file: file, line: line)
        XCTAssertEqual(try s.countAttempt(key: "pin:D2", now: 20, windowStart: 0), 1, file: file, line: line)
        XCTAssertEqual(try s.attempts(key: "pin:D1", windowStart: 0), 2, file: file, line: line)
        XCTAssertEqual(try s.attempts(key: "pin:D1", windowStart: 15), 1, file: file, line: line)
        XCTAssertEqual(try s.countAttempt(key: "pin:D1", now: 30, windowStart: 15), 2, file: file, line: line)
        try s.clearAttempts(key: "pin:D1")
        XCTAssertEqual(try s.attempts(key: "pin:D1", windowStart: 0), 0, file: file, line: line)
        XCTAssertEqual(try s.attempts(key: "pin:D2", windowStart: 0), 1, file: file, line: line)
    }

    // Shifts: one open per device, Z numbers per store, a close made once.
    do {
        let s = try make()
        try seedBase(s)
        for (code, id, store) in [("C1", "D1", "S1"), ("C2", "D2", "S1"), ("C3", "D3", "S2")] {
            try s.insertActivationCode(ActivationCodeRecord(code: code, storeID: store, createdAt: 1, expiresAt: 10_000))
            guard case .activated = try s.redeemActivationCode(code, now: 2, makeDevice: device(id)) else { return XCTFail("no device", file: file, line: line) }
        }
        let ann = ShiftStaff(id: "P1", name: "Ann", role: .cashier)
        let bob = ShiftStaff(id: "P2", name: "Bob 李", role: .supervisor)
        func shift(_ id: String, _ device: String, _ store: String = "S1", at: Int64 = 100) -> ShiftRecord {
            ShiftRecord(id: id, storeID: store, deviceID: device, currency: "CNY", openingFloat: 5_000, openedAt: at, openedBy: ann)
        }
        XCTAssertEqual(try s.openShift(shift("SH1", "D1")), .opened(shift("SH1", "D1")), file: file, line: line)
        XCTAssertEqual(try s.openShift(shift("SH2", "D1")), .alreadyOpen(shift("SH1", "D1")), "one open shift per terminal", file: file, line: line)
        XCTAssertEqual(try s.openShift(shift("SH3", "D2", at: 110)), .opened(shift("SH3", "D2", at: 110)), file: file, line: line)
        XCTAssertEqual(try s.openShift(shift("SH4", "D3", "S2")), .opened(shift("SH4", "D3", "S2")), file: file, line: line)
        XCTAssertEqual(try s.openShift(deviceID: "D1")?.id, "SH1", file: file, line: line)
        XCTAssertNil(try s.openShift(deviceID: "D9"), file: file, line: line)
        XCTAssertEqual(try s.shift(id: "SH3")?.deviceID, "D2", file: file, line: line)
        XCTAssertNil(try s.shift(id: "SH2"), file: file, line: line)

        var madeWith: [Int] = []
        guard case .closed(let z1) = try s.closeShift(id: "SH1", closedBy: bob, countedCash: 7_000, now: 200, zReport: { madeWith.append($0); return "{\"z\":\($0)}" }) else {
            return XCTFail("not closed", file: file, line: line)
        }
        XCTAssertEqual(z1.zNumber, 1, file: file, line: line)
        XCTAssertEqual(z1.closedBy, bob, file: file, line: line)
        XCTAssertEqual(z1.zReport, "{\"z\":1}", file: file, line: line)
        XCTAssertEqual(try s.shift(id: "SH1"), z1, "kept as it was closed", file: file, line: line)
        XCTAssertEqual(try s.closeShift(id: "SH1", closedBy: ann, countedCash: 1, now: 300, zReport: { madeWith.append($0); return "x" }),
                       .alreadyClosed(z1), "never closed twice", file: file, line: line)
        XCTAssertEqual(try s.closeShift(id: "SH9", closedBy: ann, countedCash: 1, now: 300, zReport: { _ in "x" }), .notFound, file: file, line: line)
        guard case .closed(let z2) = try s.closeShift(id: "SH3", closedBy: ann, countedCash: 0, now: 210, zReport: { madeWith.append($0); return "b" }),
              case .closed(let other) = try s.closeShift(id: "SH4", closedBy: ann, countedCash: 0, now: 220, zReport: { _ in "c" }) else {
            return XCTFail("not closed", file: file, line: line)
        }
        XCTAssertEqual(z2.zNumber, 2, "the store's next number", file: file, line: line)
        XCTAssertEqual(other.zNumber, 1, "each store counts its own", file: file, line: line)
        XCTAssertEqual(madeWith, [1, 2], "the report is made once per close", file: file, line: line)
        XCTAssertEqual(try s.openShift(shift("SH5", "D1", at: 400)), .opened(shift("SH5", "D1", at: 400)), "a new shift after the close", file: file, line: line)
        XCTAssertEqual(try s.shifts(storeID: "S1", limit: 10).map(\.id), ["SH5", "SH3", "SH1"], file: file, line: line)
        XCTAssertEqual(try s.shifts(storeID: "S1", limit: 1).map(\.id), ["SH5"], file: file, line: line)
    }
}

func checkOrderGroupConformance(_ make: () throws -> OrderGroupStore, file: StaticString = #filePath, line: UInt = #line) throws {
    // Probe, insert, read, duplicate.
    do {
        let g = try make()
        try g.probeWrite(now: 1)
        try g.probeWrite(now: 2)
        var full = testOrder(testOrderNumber(1), amount: 2_500, createdAt: 50)
        full.items = [OrderItem(sku: "T1", name: "Oolong 茶", quantity: 2, unitPrice: 1_000), OrderItem(name: "Cake", quantity: 1, unitPrice: 500)]
        full.clientRef = "till-7"
        try g.insertOrder(full)
        XCTAssertEqual(try g.order(full.orderNo), full, file: file, line: line)
        XCTAssertNil(try g.order(testOrderNumber(2)), file: file, line: line)
        XCTAssertThrowsError(try g.insertOrder(full), file: file, line: line) {
            guard case StorageError.duplicateKey = $0 else { return XCTFail("want duplicateKey, got \($0)", file: file, line: line) }
        }
        // The probe and the insert committed together; a taken number still reports duplicateKey.
        let probed = testOrder(testOrderNumber(3), amount: 700, createdAt: 60)
        try g.probeAndInsertOrder(probed, now: 3)
        XCTAssertEqual(try g.order(probed.orderNo), probed, file: file, line: line)
        XCTAssertThrowsError(try g.probeAndInsertOrder(full, now: 4), file: file, line: line) {
            guard case StorageError.duplicateKey = $0 else { return XCTFail("want duplicateKey, got \($0)", file: file, line: line) }
        }
    }

    // The one-call sale: nonce and order in one commit; a retry meets the order; a replay writes nothing.
    do {
        let g = try make()
        var sale = testOrder(testOrderNumber(4), amount: 900, createdAt: 70)
        sale.status = .paying
        sale.paymentCode = "990000000000000000"
        let nonce = NonceRecord(deviceID: "D1", nonce: "sale-nonce-00000001", expiresAt: 10_000)
        XCTAssertEqual(try g.placeSale(sale, recording: nonce), .placed(sale), file: file, line: line)
        XCTAssertEqual(try g.order(sale.orderNo), sale, file: file, line: line)
        XCTAssertEqual(try g.placeSale(sale, recording: nonce), .replayed, file: file, line: line)
        var again = sale
        again.amount = 1
        again.createdAt = 99
        let retry = NonceRecord(deviceID: "D1", nonce: "sale-nonce-00000002", expiresAt: 10_000)
        XCTAssertEqual(try g.placeSale(again, recording: retry), .existing(sale), "a retry meets the order as placed",
                       file: file, line: line)
        XCTAssertEqual(try g.order(sale.orderNo), sale, file: file, line: line)
        XCTAssertFalse(try g.recordNonce(retry), "the retry's nonce was recorded with it", file: file, line: line)
    }

    // A refund the channel refused is dropped with its reservation; a succeeded one stands.
    do {
        let g = try make()
        let no = testOrderNumber(5)
        try g.insertOrder(testOrder(no, amount: 1_000, status: .paid))
        let refused = RefundRecord(refundNo: RefundNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: 1, group: no.group),
                                   orderNo: no, amount: 400, currency: "CNY", refundRef: "r1", status: .pending, staffID: "P1", createdAt: 10)
        XCTAssertEqual(try g.reserveRefund(refused, maxRefunds: 50, now: 10), .reserved(refused), file: file, line: line)
        XCTAssertEqual(try g.order(no)?.refundedAmount, 400, file: file, line: line)
        XCTAssertTrue(try g.dropRefusedRefund(refused.refundNo, now: 11), file: file, line: line)
        XCTAssertEqual(try g.order(no)?.refundedAmount, 0, "the reservation is released", file: file, line: line)
        XCTAssertTrue(try g.refunds(of: no).isEmpty, file: file, line: line)
        XCTAssertFalse(try g.dropRefusedRefund(refused.refundNo, now: 12), "already gone", file: file, line: line)
        var made = refused
        made.refundNo = RefundNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: 2, group: no.group)
        XCTAssertEqual(try g.reserveRefund(made, maxRefunds: 50, now: 13), .reserved(made), file: file, line: line)
        try g.completeRefund(made.refundNo, now: 14)
        XCTAssertFalse(try g.dropRefusedRefund(made.refundNo, now: 15), "a succeeded refund stands", file: file, line: line)
        XCTAssertEqual(try g.order(no)?.refundedAmount, 400, file: file, line: line)
    }

    // Compare-and-set transitions.
    do {
        let g = try make()
        let no = testOrderNumber(1)
        try g.insertOrder(testOrder(no))
        XCTAssertNil(try g.transition(testOrderNumber(9), from: [.created], change: OrderChange(status: .paying), now: 5), file: file, line: line)
        let miss = try g.transition(no, from: [.paying], change: OrderChange(status: .paid), now: 5)
        XCTAssertEqual(miss?.changed, false, file: file, line: line)
        XCTAssertEqual(miss?.0.status, .created, file: file, line: line)
        let paying = try g.transition(no, from: [.created], change: OrderChange(status: .paying, paymentCode: "PC1"), now: 6)
        XCTAssertEqual(paying?.changed, true, file: file, line: line)
        XCTAssertEqual(paying?.0.status, .paying, file: file, line: line)
        XCTAssertEqual(paying?.0.paymentCode, "PC1", file: file, line: line)
        XCTAssertEqual(paying?.0.updatedAt, 6, file: file, line: line)
        // Recorded as the service records a channel's answer: without waiting for the disk, same semantics.
        let paid = try g.transition(no, from: [.paying], change: OrderChange(status: .paid, channelTxn: "T9", paidAt: 7),
                                    now: 7, durability: .deferred)
        XCTAssertEqual(paid?.changed, true, file: file, line: line)
        XCTAssertEqual(paid?.0.paymentCode, "PC1", "nil leaves a field unchanged", file: file, line: line)
        XCTAssertEqual(paid?.0.channelTxn, "T9", file: file, line: line)
        XCTAssertEqual(paid?.0.paidAt, 7, file: file, line: line)
        XCTAssertEqual(try g.order(no)?.status, .paid, file: file, line: line)
        let again = try g.transition(no, from: [.paying], change: OrderChange(status: .declined), now: 8, durability: .deferred)
        XCTAssertEqual(again?.changed, false, "a deferred write is still a compare-and-set", file: file, line: line)
        XCTAssertEqual(again?.0.status, .paid, file: file, line: line)
        // A durable write after it (a refund's reservation) finds it and keeps the connection flushing.
        XCTAssertEqual(try g.transition(no, from: [.paid], change: OrderChange(status: .reversed), now: 9)?.0.status, .reversed,
                       file: file, line: line)
    }

    // Eight racing transitions from the same state: exactly one changes the order.
    do {
        let g = try make()
        let no = testOrderNumber(1)
        try g.insertOrder(testOrder(no))
        let wins = Collector<String>()
        runConcurrently(8, file: file, line: line) { i in
            do {
                let r = try g.transition(no, from: [.created], change: OrderChange(status: .paying, paymentCode: "P\(i)"), now: 10)
                if r?.changed == true { wins.append("P\(i)") }
            } catch { wins.append("error \(error)") }
        }
        XCTAssertEqual(wins.values.count, 1, "\(wins.values)", file: file, line: line)
        XCTAssertEqual(try g.order(no)?.paymentCode, wins.values.first, file: file, line: line)
    }

    // Nonces kept in a group: alone, and in the same transaction as a transition (pay's claim).
    do {
        let g = try make()
        let no = testOrderNumber(1)
        try g.insertOrder(testOrder(no))
        let first = NonceRecord(deviceID: "D1", nonce: "nonce-aaaaaaaaaaaa", expiresAt: 100)
        let claim = OrderChange(status: .paying, paymentCode: "PC1")
        guard case .done(let claimed, changed: true) = try g.transition(no, from: [.created], change: claim, now: 5, recording: first) else {
            return XCTFail("the claim with a fresh nonce should change the order", file: file, line: line)
        }
        XCTAssertEqual(claimed.status, .paying, file: file, line: line)
        XCTAssertEqual(claimed.paymentCode, "PC1", file: file, line: line)
        // Its replay writes nothing, even where the transition itself would now change the order.
        let reverse = OrderChange(status: .reversed)
        XCTAssertEqual(try g.transition(no, from: [.paying], change: reverse, now: 6, recording: first), .replayed, file: file, line: line)
        XCTAssertEqual(try g.order(no), claimed, file: file, line: line)
        XCTAssertFalse(try g.recordNonce(first), "the claim recorded its nonce", file: file, line: line)
        // A fresh nonce on an order that is no longer `created`: recorded, order unchanged (compare-and-set).
        let second = NonceRecord(deviceID: "D1", nonce: "nonce-bbbbbbbbbbbb", expiresAt: 200)
        XCTAssertEqual(try g.transition(no, from: [.created], change: OrderChange(status: .paying, paymentCode: "PC2"), now: 7,
                                        recording: second), .done(claimed, changed: false), file: file, line: line)
        XCTAssertFalse(try g.recordNonce(second), file: file, line: line)
        // No such order: the nonce is kept all the same, so a replay of that request is refused too.
        let third = NonceRecord(deviceID: "D1", nonce: "nonce-cccccccccccc", expiresAt: 300)
        XCTAssertEqual(try g.transition(testOrderNumber(9), from: [.created], change: claim, now: 8, recording: third),
                       .orderNotFound, file: file, line: line)
        XCTAssertEqual(try g.transition(testOrderNumber(9), from: [.created], change: claim, now: 8, recording: third),
                       .replayed, file: file, line: line)
        // The same nonce of another device is another nonce.
        XCTAssertTrue(try g.recordNonce(NonceRecord(deviceID: "D2", nonce: first.nonce, expiresAt: 100)), file: file, line: line)
        XCTAssertTrue(try g.recordNonce(NonceRecord(deviceID: "D1", nonce: "nonce-dddddddddddd", expiresAt: 400)), file: file, line: line)
        // Pruning deletes exactly the expired ones.
        XCTAssertEqual(try g.pruneNonces(now: 200), 3, file: file, line: line)
        XCTAssertTrue(try g.recordNonce(first), "expired and pruned: a new request may use it", file: file, line: line)
        XCTAssertFalse(try g.recordNonce(third), "not expired yet", file: file, line: line)
    }

    // Eight racing claims of one order, each with its own nonce, and eight replays of one nonce: one claim
    // wins, exactly one request with the shared nonce gets through, and every loser sees the order `paying`.
    do {
        let g = try make()
        let no = testOrderNumber(1)
        try g.insertOrder(testOrder(no))
        let outcomes = Collector<String>()
        runConcurrently(16, file: file, line: line) { i in
            let nonce = NonceRecord(deviceID: "D1", nonce: i < 8 ? "nonce-own-\(i)-xxxxxx" : "nonce-shared-xxxxxx", expiresAt: 100)
            do {
                switch try g.transition(no, from: [.created], change: OrderChange(status: .paying, paymentCode: "P\(i)"), now: 10, recording: nonce) {
                case .replayed: outcomes.append("replayed")
                case .orderNotFound: outcomes.append("not found")
                // A loser must see what the winner made of the order, never the `created` it started from.
                case .done(let after, let changed): outcomes.append(changed ? "won" : "lost as \(after.status.rawValue)")
                }
            } catch { outcomes.append("error \(error)") }
        }
        let values = outcomes.values
        XCTAssertEqual(values.filter { $0 == "won" }.count, 1, "\(values)", file: file, line: line)
        XCTAssertEqual(values.filter { $0 == "replayed" }.count, 7, "\(values)", file: file, line: line)
        XCTAssertEqual(values.filter { $0 == "lost as paying" }.count, 8, "\(values)", file: file, line: line)
    }

    // Refund reservation rules.
    do {
        let g = try make()
        let no = testOrderNumber(1)
        func refund(_ seq: Int, _ amount: Int64, ref: String) -> RefundRecord {
            RefundRecord(refundNo: testRefundNumber(seq), orderNo: no, amount: amount, currency: "CNY", refundRef: ref,
                         status: .pending, staffID: "P1", reason: "test", createdAt: 100 + Int64(seq))
        }
        XCTAssertEqual(try g.reserveRefund(refund(1, 10, ref: "a"), maxRefunds: 3, now: 100), .orderNotFound, file: file, line: line)
        try g.insertOrder(testOrder(no, amount: 1_000))
        XCTAssertEqual(try g.reserveRefund(refund(1, 10, ref: "a"), maxRefunds: 3, now: 100), .orderNotPaid, file: file, line: line)
        _ = try g.transition(no, from: [.created], change: OrderChange(status: .paid, paidAt: 90), now: 90)

        let first = refund(1, 300, ref: "a")
        XCTAssertEqual(try g.reserveRefund(first, maxRefunds: 3, now: 101), .reserved(first), file: file, line: line)
        XCTAssertEqual(try g.stalePendingRefunds(createdBefore: 101, limit: 10), [], file: file, line: line)
        XCTAssertEqual(try g.stalePendingRefunds(createdBefore: 102, limit: 10), [first], file: file, line: line)
        XCTAssertEqual(try g.order(no)?.refundedAmount, 300, file: file, line: line)
        XCTAssertEqual(try g.reserveRefund(refund(2, 300, ref: "a"), maxRefunds: 3, now: 102), .existing(first), file: file, line: line)
        XCTAssertEqual(try g.reserveRefund(refund(2, 301, ref: "a"), maxRefunds: 3, now: 102), .conflict(first), file: file, line: line)
        XCTAssertEqual(try g.reserveRefund(refund(2, 701, ref: "b"), maxRefunds: 3, now: 102), .exceedsPaid(remaining: 700), file: file, line: line)
        let second = refund(2, 700, ref: "b")
        XCTAssertEqual(try g.reserveRefund(second, maxRefunds: 3, now: 102), .reserved(second), file: file, line: line)
        XCTAssertEqual(try g.reserveRefund(refund(3, 1, ref: "c"), maxRefunds: 3, now: 103), .exceedsPaid(remaining: 0), file: file, line: line)
        XCTAssertEqual(try g.reserveRefund(refund(3, 0, ref: "c"), maxRefunds: 2, now: 103), .limitReached, file: file, line: line)
        XCTAssertEqual(try g.order(no)?.refundedAmount, 1_000, file: file, line: line)

        try g.completeRefund(first.refundNo, now: 200)
        try g.completeRefund(first.refundNo, now: 300)
        let stored = try g.refunds(of: no)
        XCTAssertEqual(stored.map(\.refundRef), ["a", "b"], file: file, line: line)
        XCTAssertEqual(stored.first?.status, .succeeded, file: file, line: line)
        XCTAssertEqual(stored.first?.completedAt, 200, "completing twice keeps the first time", file: file, line: line)
        XCTAssertEqual(stored.last?.status, .pending, file: file, line: line)
        XCTAssertEqual(try g.stalePendingRefunds(createdBefore: 1_000, limit: 10).map(\.refundRef), ["b"],
                       "a completed refund is no longer pending", file: file, line: line)
        XCTAssertEqual(try g.refunds(of: testOrderNumber(5)), [], file: file, line: line)
    }

    // Eight concurrent refunds of 300 against 1000 paid: three win, the total never exceeds the payment.
    do {
        let g = try make()
        let no = testOrderNumber(1)
        try g.insertOrder(testOrder(no, amount: 1_000, status: .paid))
        let outcomes = Collector<RefundReservation>()
        let errors = Collector<String>()
        runConcurrently(8, file: file, line: line) { i in
            let r = RefundRecord(refundNo: testRefundNumber(10 + i), orderNo: no, amount: 300, currency: "CNY",
                                 refundRef: "ref\(i)", status: .pending, staffID: "P1", createdAt: 100)
            do { outcomes.append(try g.reserveRefund(r, maxRefunds: 10, now: 100)) } catch { errors.append("\(error)") }
        }
        XCTAssertEqual(errors.values, [], file: file, line: line)
        let reserved = outcomes.values.filter { if case .reserved = $0 { return true } else { return false } }
        XCTAssertEqual(reserved.count, 3, "\(outcomes.values)", file: file, line: line)
        XCTAssertEqual(try g.order(no)?.refundedAmount, 900, file: file, line: line)
        XCTAssertEqual(try g.refunds(of: no).map(\.amount).reduce(0, +), 900, file: file, line: line)
    }

    // Newest-first lists with cursors, sweeps, export and import.
    do {
        let g = try make()
        // Seven orders of S1 (two share a createdAt) and two of S2.
        let times: [Int64] = [100, 200, 200, 300, 400, 500, 600]
        var s1: [OrderRecord] = []
        for (i, t) in times.enumerated() {
            let o = testOrder(testOrderNumber(i + 1), store: "S1", createdAt: t)
            try g.insertOrder(o)
            s1.append(o)
        }
        try g.insertOrder(testOrder(testOrderNumber(20), store: "S2", createdAt: 450))
        try g.insertOrder(testOrder(testOrderNumber(21), store: "S2", createdAt: 460))
        func newestFirst(_ orders: [OrderRecord]) -> [OrderNumber] {
            orders.sorted { ($0.createdAt, $0.orderNo.digits) > ($1.createdAt, $1.orderNo.digits) }.map(\.orderNo)
        }
        /// Every page of `scope`, `size` at a time, following the cursor (at most five pages).
        func allPages(_ scope: OrderListScope, size: Int) throws -> [OrderNumber] {
            var seen: [OrderRecord] = []
            var cursor: OrderListCursor?
            for _ in 0..<5 {
                let page = try g.listOrders(scope, before: cursor, limit: size)
                seen += page
                guard page.count == size, let last = page.last else { break }
                cursor = OrderListCursor(createdAt: last.createdAt, orderNo: last.orderNo.digits)
            }
            return seen.map(\.orderNo)
        }
        XCTAssertEqual(try allPages(.store("S1"), size: 3), newestFirst(s1), file: file, line: line)
        XCTAssertEqual(try g.listOrders(.store("S2"), before: nil, limit: 10).map(\.createdAt), [460, 450], file: file, line: line)
        XCTAssertEqual(try g.listOrders(.store("S1"), before: OrderListCursor(createdAt: 100, orderNo: testOrderNumber(1).digits), limit: 10), [],
                       file: file, line: line)

        // A merchant's list spans its stores (M1 owns S1 and S2) and leaves other merchants' orders out.
        var otherMerchant = testOrder(testOrderNumber(22), store: "S3", createdAt: 470)
        otherMerchant.merchantID = "M2"
        try g.insertOrder(otherMerchant)
        let merchantOrders = s1 + [try g.order(testOrderNumber(20))!, try g.order(testOrderNumber(21))!]
        XCTAssertEqual(try allPages(.merchant("M1"), size: 4), newestFirst(merchantOrders), file: file, line: line)
        XCTAssertEqual(try g.listOrders(.merchant("M2"), before: nil, limit: 10).map(\.orderNo), [testOrderNumber(22)], file: file, line: line)
        XCTAssertEqual(try g.listOrders(.merchant("S1"), before: nil, limit: 10), [], "a store id is not a merchant id", file: file, line: line)

        _ = try g.transition(s1[0].orderNo, from: [.created], change: OrderChange(status: .paying), now: 1_000)
        _ = try g.transition(s1[1].orderNo, from: [.created], change: OrderChange(status: .paying), now: 5_000)
        XCTAssertEqual(try g.stalePayingOrders(updatedBefore: 2_000, limit: 10).map(\.orderNo), [s1[0].orderNo], file: file, line: line)
        XCTAssertEqual(try g.stalePayingOrders(updatedBefore: 9_000, limit: 1).count, 1, file: file, line: line)

        _ = try g.transition(s1[2].orderNo, from: [.created], change: OrderChange(status: .paid), now: 6_000)
        let refund = RefundRecord(refundNo: testRefundNumber(1), orderNo: s1[2].orderNo, amount: 10, currency: "CNY",
                                  refundRef: "r", status: .pending, staffID: "P1", createdAt: 6_001)
        _ = try g.reserveRefund(refund, maxRefunds: 3, now: 6_001)

        var exported: [OrderRecord] = []
        var after: OrderNumber?
        for _ in 0..<10 {
            let batch = try g.allOrders(after: after, limit: 4)
            exported += batch
            guard let last = batch.last, batch.count == 4 else { break }
            after = last.orderNo
        }
        XCTAssertEqual(exported.map(\.orderNo), exported.map(\.orderNo).sorted(), file: file, line: line)
        XCTAssertEqual(Set(exported.map(\.orderNo)).count, 10, file: file, line: line)

        let target = try make()
        for o in exported { try target.importOrder(o, refunds: try g.refunds(of: o.orderNo)) }
        for o in exported { try target.importOrder(o, refunds: try g.refunds(of: o.orderNo)) }
        XCTAssertEqual(try target.allOrders(after: nil, limit: 100), exported, file: file, line: line)
        XCTAssertEqual(try target.refunds(of: s1[2].orderNo), [refund], file: file, line: line)
        var changed = exported[0]
        changed.amount = 1
        try target.importOrder(changed, refunds: [])
        XCTAssertEqual(try target.order(changed.orderNo)?.amount, exported[0].amount, "import leaves existing rows as they are",
                       file: file, line: line)
    }

    // Who, which shift and tender are kept; a shift's orders and refunds are found by it.
    do {
        let g = try make()
        var cash = testOrder(testOrderNumber(1), amount: 800, createdAt: 10)
        cash.status = .paid
        cash.paidAt = 10
        cash.tender = .cash
        cash.cashGiven = 1_000
        cash.staffID = "P1"
        cash.shiftID = "SH1"
        var code = testOrder(testOrderNumber(2), amount: 500, createdAt: 20)
        code.shiftID = "SH1"
        let elsewhere = testOrder(testOrderNumber(3), amount: 300, createdAt: 30)
        for o in [cash, code, elsewhere] { try g.insertOrder(o) }
        XCTAssertEqual(try g.order(cash.orderNo), cash, file: file, line: line)
        XCTAssertEqual(try g.order(code.orderNo)?.tender, .code, file: file, line: line)
        XCTAssertEqual(try g.orders(ofShift: "SH1").map(\.orderNo), [cash.orderNo, code.orderNo], file: file, line: line)
        XCTAssertEqual(try g.orders(ofShift: "SH2"), [], file: file, line: line)
        let r = RefundRecord(refundNo: testRefundNumber(1), orderNo: cash.orderNo, amount: 200, currency: "CNY", refundRef: "a",
                             status: .pending, staffID: "P2", createdAt: 40, cashierID: "P1", shiftID: "SH2")
        guard case .reserved(let reserved) = try g.reserveRefund(r, maxRefunds: 3, now: 40) else { return XCTFail("not reserved", file: file, line: line) }
        XCTAssertEqual(reserved.shiftID, "SH2", file: file, line: line)
        XCTAssertEqual(try g.refunds(of: cash.orderNo).first?.cashierID, "P1", file: file, line: line)
        let found = try g.refunds(ofShift: "SH2")
        XCTAssertEqual(found.map(\.refund.refundNo), [r.refundNo], file: file, line: line)
        XCTAssertEqual(found.first?.order.orderNo, cash.orderNo, file: file, line: line)
        XCTAssertEqual(found.first?.order.tender, .cash, file: file, line: line)
        XCTAssertEqual(try g.refunds(ofShift: "SH1").count, 0, "a refund counts in the shift it was made in", file: file, line: line)
        // A one-call cash sale keeps it all too.
        var placed = testOrder(testOrderNumber(4), amount: 100, createdAt: 50)
        placed.tender = .cash
        placed.status = .paid
        placed.shiftID = "SH2"
        XCTAssertEqual(try g.placeSale(placed, recording: NonceRecord(deviceID: "D1", nonce: "cash-1", expiresAt: 999)), .placed(placed), file: file, line: line)
        XCTAssertEqual(try g.order(placed.orderNo), placed, file: file, line: line)
    }
}
