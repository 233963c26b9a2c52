import CashierCore
import CashierStorage
import Foundation
import XCTest

/// Holds `BEGIN EXCLUSIVE` on a database from a separate `sqlite3` process, so the group really
/// cannot be written until `release()`.
final class ExternalLock {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()

    static let cli = "/usr/bin/sqlite3"
    static var isAvailable: Bool { FileManager.default.isExecutableFile(atPath: cli) }

    init(path: String) throws {
        process.executableURL = URL(fileURLWithPath: Self.cli)
        process.arguments = ["-bail", path]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        send(".timeout 5000\nBEGIN EXCLUSIVE;\nUPDATE probe SET at = at;\nSELECT 'LOCKED';\n")
        var seen = ""
        let deadline = Date().addingTimeInterval(10)
        while !seen.contains("LOCKED"), Date() < deadline {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }  // the CLI exited (-bail on error)
            seen += String(decoding: data, as: UTF8.self)
        }
        guard seen.contains("LOCKED") else { throw StorageError.failed("sqlite3 could not lock \(path): \(seen)") }
    }

    private func send(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    func release() {
        guard process.isRunning else { return }
        send("COMMIT;\n.quit\n")
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { release() }
}

/// A real SQLite group that also counts calls and listed rows, to check what hopping asks of it.
final class CountingGroup: OrderGroupStore, @unchecked Sendable {
    let inner: OrderGroupStore
    private let lock = NSLock()
    private var _probes = 0
    private var _separateProbes = 0
    private var _listedRows = 0
    init(_ inner: OrderGroupStore) { self.inner = inner }

    /// Probes of either kind: alone, or together with the insert.
    var probes: Int { lock.lock(); defer { lock.unlock() }; return _probes }
    /// Probes that were their own write (`probeWrite`).
    var separateProbes: Int { lock.lock(); defer { lock.unlock() }; return _separateProbes }
    var listedRows: Int { lock.lock(); defer { lock.unlock() }; return _listedRows }

    func probeWrite(now: Int64) throws {
        lock.lock(); _probes += 1; _separateProbes += 1; lock.unlock()
        try inner.probeWrite(now: now)
    }
    func insertOrder(_ order: OrderRecord) throws { try inner.insertOrder(order) }
    func probeAndInsertOrder(_ order: OrderRecord, now: Int64) throws {
        lock.lock(); _probes += 1; lock.unlock()
        try inner.probeAndInsertOrder(order, now: now)
    }
    func order(_ orderNo: OrderNumber) throws -> OrderRecord? { try inner.order(orderNo) }
    func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                    durability: WriteDurability) throws -> (OrderRecord, changed: Bool)? {
        try inner.transition(orderNo, from: from, change: change, now: now, durability: durability)
    }
    func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                    recording nonce: NonceRecord) throws -> NoncedTransition {
        try inner.transition(orderNo, from: from, change: change, now: now, recording: nonce)
    }
    func placeSale(_ order: OrderRecord, recording nonce: NonceRecord) throws -> PlacedSale {
        try inner.placeSale(order, recording: nonce)
    }
    func recordNonce(_ nonce: NonceRecord) throws -> Bool { try inner.recordNonce(nonce) }
    func pruneNonces(now: Int64) throws -> Int { try inner.pruneNonces(now: now) }
    func refunds(of orderNo: OrderNumber) throws -> [RefundRecord] { try inner.refunds(of: orderNo) }
    func orders(ofShift shiftID: String) throws -> [OrderRecord] { try inner.orders(ofShift: shiftID) }
    func refunds(ofShift shiftID: String) throws -> [(refund: RefundRecord, order: OrderRecord)] { try inner.refunds(ofShift: shiftID) }
    func reserveRefund(_ refund: RefundRecord, maxRefunds: Int, now: Int64) throws -> RefundReservation {
        try inner.reserveRefund(refund, maxRefunds: maxRefunds, now: now)
    }
    func completeRefund(_ refundNo: RefundNumber, now: Int64) throws { try inner.completeRefund(refundNo, now: now) }
    func dropRefusedRefund(_ refundNo: RefundNumber, now: Int64) throws -> Bool { try inner.dropRefusedRefund(refundNo, now: now) }
    func listOrders(_ scope: OrderListScope, before: OrderListCursor?, limit: Int) throws -> [OrderRecord] {
        let met = rendezvous?.arrive()
        let rows = try inner.listOrders(scope, before: before, limit: limit)
        lock.lock(); _listedRows += rows.count; if let met { _listsThatMetTheOthers.append(met) }; lock.unlock()
        return rows
    }
    /// When set, every list call waits there for the other groups' list calls (see `Rendezvous`).
    nonisolated(unsafe) var rendezvous: Rendezvous?
    private var _listsThatMetTheOthers: [Bool] = []
    /// For each list call made while `rendezvous` was set: whether the other groups' calls were under way too.
    var listsThatMetTheOthers: [Bool] { lock.lock(); defer { lock.unlock() }; return _listsThatMetTheOthers }
    func stalePayingOrders(updatedBefore: Int64, limit: Int) throws -> [OrderRecord] {
        try inner.stalePayingOrders(updatedBefore: updatedBefore, limit: limit)
    }
    func stalePendingRefunds(createdBefore: Int64, limit: Int) throws -> [RefundRecord] {
        try inner.stalePendingRefunds(createdBefore: createdBefore, limit: limit)
    }
    func allOrders(after: OrderNumber?, limit: Int) throws -> [OrderRecord] { try inner.allOrders(after: after, limit: limit) }
    func importOrder(_ order: OrderRecord, refunds: [RefundRecord]) throws { try inner.importOrder(order, refunds: refunds) }
}

/// Lets `parties` callers meet: each waits (at most 5 s) until all have arrived, and says whether they did.
/// Calls made one after another never meet; calls under way together always do.
final class Rendezvous: @unchecked Sendable {
    private let condition = NSCondition()
    private var arrived = 0
    let parties: Int

    init(parties: Int) { self.parties = parties }

    func arrive() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        let deadline = Date().addingTimeInterval(5)
        while arrived < parties {
            if !condition.wait(until: deadline) { return arrived >= parties }
        }
        return true
    }
}

final class OrderHoppingTests: XCTestCase {
    private var dir: TempDirectory!
    private var clock: ManualClock!
    private var sequence = 0

    override func setUpWithError() throws {
        dir = try TempDirectory()
        clock = ManualClock()
    }

    override func tearDown() { dir.remove() }

    private func tag(_ v: Int) -> GroupTag { GroupTag(v)! }

    private func groups(_ count: Int) throws -> [GroupTag: CountingGroup] {
        let stores = try GroupConfiguration.openSQLiteGroups(directory: dir.path, tags: GroupConfiguration.tags(count: count))
        return stores.mapValues { CountingGroup($0) }
    }

    private func hopping(_ gs: [GroupTag: CountingGroup], seed: UInt64 = 42, config: HoppingConfiguration = .init()) -> OrderHopping {
        let clock = self.clock!
        return OrderHopping(groups: gs, configuration: config, clock: { clock.now }, random: SeededRandom(seed: seed))
    }

    /// Builds a record for `group`, numbered from this test's sequence and stamped with the clock.
    private func maker(createdAt: Int64? = nil) -> (GroupTag) -> OrderRecord {
        { group in
            self.sequence += 1
            let no = OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: self.sequence, group: group)
            return testOrder(no, createdAt: createdAt ?? self.clock.now)
        }
    }

    func testLockedGroupIsAvoidedThenComesBackAfterDecay() throws {
        try XCTSkipUnless(ExternalLock.isAvailable, "needs \(ExternalLock.cli)")
        let gs = try groups(3)
        let hop = hopping(gs)
        for t in gs.keys { try gs[t]!.probeWrite(now: 0) }  // creates each file and its schema

        let locked = tag(1)
        let lock = try ExternalLock(path: GroupConfiguration.path(for: locked, in: dir.path))
        XCTAssertThrowsError(try gs[locked]!.inner.probeWrite(now: 1), "the external lock must really block writes")

        let probesBefore = gs[locked]!.probes
        var placed: [GroupTag: Int] = [:]
        for _ in 0..<200 {
            let (order, _) = try hop.createOrder(maker())
            placed[order.orderNo.group, default: 0] += 1
            XCTAssertEqual(try gs[order.orderNo.group]!.order(order.orderNo)?.orderNo, order.orderNo)
        }
        XCTAssertEqual(placed.values.reduce(0, +), 200)
        XCTAssertNil(placed[locked])
        XCTAssertGreaterThan(placed[tag(0)] ?? 0, 0)
        XCTAssertGreaterThan(placed[tag(2)] ?? 0, 0)
        let stats = hop.stats()[locked]!
        XCTAssertEqual(stats.probeFailures, 3, "probed only until the threshold, then skipped")
        XCTAssertGreaterThan(stats.skippedByThreshold, 0)
        XCTAssertEqual(gs[locked]!.probes - probesBefore, 3)
        XCTAssertTrue(hop.isOverThreshold(locked))

        // An existing order of the locked group cannot be changed, and says so.
        let stuck = testOrderNumber(900, group: 1)
        XCTAssertThrowsError(try hop.withGroup(stuck.group) { try $0.transition(stuck, from: [.created], change: OrderChange(status: .closed), now: 1) }) {
            guard case HoppingError.groupUnavailable(let t, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(t, locked)
        }

        lock.release()
        XCTAssertTrue(hop.isOverThreshold(locked), "nothing changes until the failures decay")
        clock.advance(ms: 60_000)  // six half-lives
        XCTAssertFalse(hop.isOverThreshold(locked))
        XCTAssertLessThan(hop.health().first { $0.group == 1 }!.recentFailures, 0.1)
        var backInLocked = 0
        for _ in 0..<60 {
            let (order, hops) = try hop.createOrder(maker())
            XCTAssertEqual(hops, [])
            if order.orderNo.group == locked { backInLocked += 1 }
        }
        XCTAssertGreaterThan(backInLocked, 0, "the healed group takes orders again")
    }

    /// A skipped group is probed on its own (the service does so every second): while it is still locked
    /// it stays skipped; once a probe write goes through it takes orders again at once, without waiting for
    /// its failures to decay, and a long outage never pushes its count past the ceiling.
    func testASkippedGroupIsProbedAndTakesOrdersAgainAsSoonAsItWrites() throws {
        try XCTSkipUnless(ExternalLock.isAvailable, "needs \(ExternalLock.cli)")
        let gs = try groups(2)
        let hop = hopping(gs)
        for t in gs.keys { try gs[t]!.probeWrite(now: 0) }
        let locked = tag(1)
        let lock = try ExternalLock(path: GroupConfiguration.path(for: locked, in: dir.path))
        for _ in 0..<50 { _ = try? hop.withGroup(locked) { try $0.probeWrite(now: 1) } }
        XCTAssertTrue(hop.isOverThreshold(locked))
        XCTAssertLessThanOrEqual(hop.health().first { $0.group == 1 }!.recentFailures, 6, "capped at twice the threshold")
        XCTAssertEqual(hop.probeSkippedGroups(), [], "still locked: the probe fails")
        XCTAssertTrue(hop.isOverThreshold(locked))
        lock.release()
        XCTAssertEqual(hop.probeSkippedGroups(), [locked])
        XCTAssertFalse(hop.isOverThreshold(locked), "healed at once, not after the decay")
        XCTAssertTrue(hop.groupsForNewNumbers(count: 4).contains(locked), "numbers are given in it again")
        XCTAssertEqual(hop.probeSkippedGroups(), [], "a fit group is not probed")
    }

    func testThresholdSkipDoesNotProbe() throws {
        let gs = try groups(2)
        let hop = hopping(gs)
        let bad = tag(0)
        // Three failures recorded through withGroup push group 0 to the threshold.
        for _ in 0..<3 {
            XCTAssertThrowsError(try hop.withGroup(bad) { _ in throw StorageError.unavailable("test outage") } as Void)
        }
        XCTAssertEqual(hop.health().first { $0.group == 0 }!.recentFailures, 3, accuracy: 0.001)
        for _ in 0..<30 {
            let (order, _) = try hop.createOrder(maker())
            XCTAssertEqual(order.orderNo.group, tag(1))
        }
        XCTAssertEqual(gs[bad]!.probes, 0)
        XCTAssertGreaterThan(hop.stats()[bad]!.skippedByThreshold, 0)
        XCTAssertEqual(hop.stats()[tag(1)]!.ordersCreated, 30)

        clock.advance(ms: 10_000)  // one half-life: 3 → 1.5
        XCTAssertEqual(hop.health().first { $0.group == 0 }!.recentFailures, 1.5, accuracy: 0.001)
        XCTAssertFalse(hop.isOverThreshold(bad))
    }

    func testAHealthyGroupProbesWithItsInsertASuspectOneIsProbedAloneFirst() throws {
        let gs = try groups(1)
        let hop = hopping(gs)
        let group = gs[tag(0)]!
        _ = try hop.createOrder(maker())
        XCTAssertEqual(group.probes, 1)
        XCTAssertEqual(group.separateProbes, 0, "no recent failures: the probe shares the insert's commit")

        // One failure makes the group suspect, though still under the threshold.
        XCTAssertThrowsError(try hop.withGroup(tag(0)) { _ in throw StorageError.unavailable("a blip") } as Void)
        XCTAssertFalse(hop.isOverThreshold(tag(0)))
        let (order, hops) = try hop.createOrder(maker())
        XCTAssertEqual(hops, [])
        XCTAssertEqual(group.separateProbes, 1, "a suspect group is probed on its own before the insert")
        XCTAssertEqual(try group.order(order.orderNo)?.orderNo, order.orderNo)
    }

    func testNoGroupAvailableWhenNothingAccepts() throws {
        let gs = try groups(2)
        let hop = hopping(gs)
        try hop.setAccepting(tag(0), false)
        try hop.setAccepting(tag(1), false)
        XCTAssertThrowsError(try hop.createOrder(maker())) { XCTAssertEqual($0 as? HoppingError, .noGroupAvailable(tried: [])) }
        XCTAssertThrowsError(try hop.setAccepting(tag(5), true)) { XCTAssertEqual($0 as? HoppingError, .unknownGroup(tag(5))) }
        try hop.setAccepting(tag(1), true)
        XCTAssertEqual(try hop.createOrder(maker()).order.orderNo.group, tag(1))
    }

    func testDuplicateNumberCallsMakeAgainInTheSameGroup() throws {
        let gs = try groups(1)
        let hop = hopping(gs)
        let taken = OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: 1, group: tag(0))
        try gs[tag(0)]!.insertOrder(testOrder(taken))
        var calls = 0
        let (order, hops) = try hop.createOrder { group in
            calls += 1
            return testOrder(OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: calls, group: group))
        }
        XCTAssertEqual(calls, 2)
        XCTAssertEqual(hops, [])
        XCTAssertNotEqual(order.orderNo, taken)
    }

    func testMergedListIsNewestFirstWithCursorsAndBoundedCost() throws {
        let gs = try groups(3)
        let hop = hopping(gs, seed: 7)
        var all: [OrderRecord] = []
        for i in 0..<30 {
            // Pairs of orders share a createdAt so the order number breaks ties.
            let (order, _) = try hop.createOrder(maker(createdAt: 10_000 + Int64(i / 2) * 1_000))
            all.append(order)
        }
        XCTAssertGreaterThan(Set(all.map(\.orderNo.group)).count, 1, "orders are spread over groups")
        let expected = all.sorted { ($0.createdAt, $0.orderNo.digits) > ($1.createdAt, $1.orderNo.digits) }
        let limit = 7
        var seen: [OrderRecord] = []
        var cursor: OrderListCursor?
        for _ in 0..<10 {
            let before = gs.values.map(\.listedRows).reduce(0, +)
            let page = hop.listOrders(.store("S1"), before: cursor, limit: limit)
            XCTAssertEqual(page.unavailable, [])
            XCTAssertLessThanOrEqual(gs.values.map(\.listedRows).reduce(0, +) - before, limit * 3)
            seen += page.orders
            guard page.orders.count == limit, let last = page.orders.last else { break }
            cursor = OrderListCursor(createdAt: last.createdAt, orderNo: last.orderNo.digits)
        }
        XCTAssertEqual(seen.map(\.orderNo), expected.map(\.orderNo))
    }

    /// A list asks its groups at once, so a page waits for the slowest group, not for the sum of them:
    /// here each group's read waits until the other's has started too.
    func testListAsksTheGroupsAtTheSameTime() throws {
        guard ProcessInfo.processInfo.activeProcessorCount >= 2 else { throw XCTSkip("two reads at once need two cores") }
        let gs = try groups(2)
        let hop = hopping(gs)
        _ = try hop.createOrder(maker())
        let meeting = Rendezvous(parties: 2)
        for g in gs.values { g.rendezvous = meeting }
        let page = hop.listOrders(.merchant("M1"), before: nil, limit: 10)
        XCTAssertEqual(page.unavailable, [])
        XCTAssertEqual(page.orders.count, 1)
        XCTAssertEqual(gs.values.map(\.listsThatMetTheOthers), [[true], [true]])
    }

    /// In WAL mode a write lock does not stop readers, so an unreachable file stands in for a down group.
    func testListReportsAGroupThatCannotBeRead() throws {
        let gs = try groups(2)
        let hop = hopping(gs)
        _ = try hop.createOrder(maker())
        let missing = try SQLiteOrderGroupStore(path: dir.file("nowhere/x.sqlite"), openNow: false)
        hop.addGroup(tag(5), store: missing, accepting: false)
        let page = hop.listOrders(.store("S1"), before: nil, limit: 10)
        XCTAssertEqual(page.orders.count, 1)
        XCTAssertEqual(page.unavailable, [tag(5)])
        XCTAssertEqual(hop.stats()[tag(5)]!.failures, 1)
    }

    func testRetiredTagIsRoutedToTheGroupHoldingItsData() throws {
        let gs = try groups(3)
        let hop = hopping(gs)
        // Fill group 2 only, then retire it into group 0 (2 mod 2 remaining groups = 0).
        try hop.setAccepting(tag(0), false)
        try hop.setAccepting(tag(1), false)
        var inTwo: [OrderRecord] = []
        for _ in 0..<5 { inTwo.append(try hop.createOrder(maker()).order) }
        XCTAssertTrue(inTwo.allSatisfy { $0.orderNo.group == tag(2) })
        _ = try hop.withGroup(tag(2)) { try $0.transition(inTwo[0].orderNo, from: [.created], change: OrderChange(status: .paid), now: 1) }

        try hop.setAccepting(tag(0), true)
        try hop.setAccepting(tag(2), false)
        XCTAssertEqual(try hop.migrate(from: tag(2), into: tag(0), batchSize: 2), 5)
        hop.removeGroup(tag(2))
        XCTAssertThrowsError(try hop.withGroup(tag(2)) { try $0.order(inTwo[0].orderNo) }) {
            XCTAssertEqual($0 as? HoppingError, .unknownGroup(tag(2)))
        }
        hop.setRoute(from: tag(2), to: tag(0))
        XCTAssertEqual(hop.resolve(tag(2)), tag(0))
        for o in inTwo {
            XCTAssertEqual(try hop.withGroup(o.orderNo.group) { try $0.order(o.orderNo) }?.orderNo, o.orderNo)
        }
        XCTAssertEqual(try hop.withGroup(tag(2)) { try $0.order(inTwo[0].orderNo) }?.status, .paid)
        XCTAssertEqual(hop.groupTags, [tag(0), tag(1)])
        XCTAssertEqual(hop.acceptingTags, [tag(0)])
        // A routing loop ends instead of hanging.
        hop.setRoute(from: tag(8), to: tag(9))
        hop.setRoute(from: tag(9), to: tag(8))
        XCTAssertNil(hop.resolve(tag(8)))
    }
}
