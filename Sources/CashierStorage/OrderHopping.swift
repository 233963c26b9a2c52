import CashierCore
import Dispatch
import Foundation

public struct HoppingConfiguration: Sendable {
    /// A group whose decayed failure count is at or above this is skipped for new orders.
    public var failureThreshold: Double
    /// Time for a group's failure count to halve.
    public var halfLifeSeconds: Double
    /// Most groups probed for one new order; nil means every group.
    public var maxAttempts: Int?
    /// How many times `make` is called again when an order number is already taken in a group.
    public var duplicateRetries: Int

    public init(failureThreshold: Double = 3, halfLifeSeconds: Double = 10, maxAttempts: Int? = nil, duplicateRetries: Int = 5) {
        self.failureThreshold = failureThreshold
        self.halfLifeSeconds = halfLifeSeconds
        self.maxAttempts = maxAttempts
        self.duplicateRetries = duplicateRetries
    }
}

public enum HoppingError: Error, Equatable, Sendable {
    /// No accepting group took the order; `tried` lists the groups in the order they were picked.
    case noGroupAvailable(tried: [GroupTag])
    /// The group holding the data is failing now (the message says how).
    case groupUnavailable(GroupTag, String)
    /// No configured group and no route for this tag.
    case unknownGroup(GroupTag)
}

/// Counters for metrics, per group, since start.
public struct GroupStats: Equatable, Sendable {
    public var ordersCreated = 0
    /// Picked for a new order but skipped because its recent failures were at the threshold.
    public var skippedByThreshold = 0
    /// Picked, probed, and the probe (or the insert after it) failed.
    public var probeFailures = 0
    /// Every failure recorded against the group (probes, inserts, `withGroup`, lists).
    public var failures = 0
    public init() {}
}

/// A failure count that halves every half-life, so a healed group comes back on its own. It never
/// rises above its ceiling, so however many calls failed during an outage, a group is back within a
/// bounded time after its last failure (one half-life with the ceiling at twice the threshold).
struct DecayingCounter: Sendable {
    private(set) var value: Double = 0
    private(set) var updatedAt: Int64 = 0

    func value(at now: Int64, halfLifeMs: Double) -> Double {
        guard value > 0, halfLifeMs > 0 else { return halfLifeMs > 0 ? value : 0 }
        let elapsed = Double(max(0, now - updatedAt))
        return value * exp2(-elapsed / halfLifeMs)
    }

    mutating func add(_ amount: Double, at now: Int64, halfLifeMs: Double, ceiling: Double = .infinity) {
        value = min(ceiling, value(at: now, halfLifeMs: halfLifeMs) + amount)
        updatedAt = max(updatedAt, now)
    }
}

/// SplitMix64: a small seeded generator so tests can replay the same group choices.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Order hopping (跳單): puts each new order in a random healthy group and sends every later call for
/// an order to the group its number names.
///
/// `@unchecked Sendable`: the group table, counters and random generator are only touched while
/// holding `lock`, and the lock is never held during a database call.
public final class OrderHopping: @unchecked Sendable {
    private struct Group {
        var store: OrderGroupStore
        var accepting: Bool
        /// Frozen while its data moves to another group: calls answer "retry later" without counting failures.
        var frozen = false
        /// A request is probing this group while it has recent failures; others do not queue behind it.
        var probing = false
        var failures = DecayingCounter()
        var stats = GroupStats()
    }

    private let lock = NSLock()
    private var groups: [GroupTag: Group] = [:]
    private var routes: [GroupTag: GroupTag]
    private var random: any RandomNumberGenerator
    private let clock: @Sendable () -> Int64
    public let configuration: HoppingConfiguration

    /// - Parameters:
    ///   - accepting: groups that take new orders; nil means all of `groups`.
    ///   - routes: retired tag → the group that now holds its data.
    ///   - clock: Unix milliseconds; injectable so tests can let failures decay.
    public init(groups: [GroupTag: OrderGroupStore], accepting: Set<GroupTag>? = nil, routes: [GroupTag: GroupTag] = [:],
                configuration: HoppingConfiguration = HoppingConfiguration(),
                clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                random: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()) {
        for (tag, store) in groups {
            self.groups[tag] = Group(store: store, accepting: accepting?.contains(tag) ?? true)
        }
        self.routes = routes
        self.configuration = configuration
        self.clock = clock
        self.random = random
    }

    private var halfLifeMs: Double { configuration.halfLifeSeconds * 1000 }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func recordFailure(_ tag: GroupTag, probe: Bool = false) {
        let now = clock()
        locked {
            groups[tag]?.failures.add(1, at: now, halfLifeMs: halfLifeMs, ceiling: 2 * configuration.failureThreshold)
            groups[tag]?.stats.failures += 1
            if probe { groups[tag]?.stats.probeFailures += 1 }
        }
    }

    /// The next group to try: a random accepting group not yet tried, with whether it is over the threshold.
    private func pick(excluding tried: Set<GroupTag>, now: Int64) -> (GroupTag, OrderGroupStore, overThreshold: Bool)? {
        locked {
            let candidates = groups.filter { $0.value.accepting && !$0.value.frozen && !tried.contains($0.key) }.keys.sorted()
            guard !candidates.isEmpty else { return nil }
            // Modulo bias is negligible for at most 100 groups.
            let tag = candidates[Int(random.next() % UInt64(candidates.count))]
            guard let g = groups[tag] else { return nil }
            let over = g.failures.value(at: now, halfLifeMs: halfLifeMs) >= configuration.failureThreshold
            if over { groups[tag]?.stats.skippedByThreshold += 1 }
            return (tag, g.store, over)
        }
    }

    /// Groups for `count` new order numbers: random accepting groups whose recent failures are under the
    /// threshold, as different from each other as there are such groups (a sale that cannot be placed in
    /// one moves to the next number, which then lies elsewhere). Empty when no group is fit. No write is
    /// made: a number is only a promise that its group took orders a moment ago; the sale's own commit is
    /// the probe.
    public func groupsForNewNumbers(count: Int) -> [GroupTag] {
        let now = clock()
        return locked {
            var fit = groups.filter { $0.value.accepting && !$0.value.frozen
                && $0.value.failures.value(at: now, halfLifeMs: halfLifeMs) < configuration.failureThreshold }.keys.sorted()
            guard !fit.isEmpty else { return [] }
            // Fisher–Yates with the hopping's own generator; modulo bias is negligible for at most 100 groups.
            for i in stride(from: fit.count - 1, to: 0, by: -1) {
                fit.swapAt(i, Int(random.next() % UInt64(i + 1)))
            }
            return (0..<count).map { fit[$0 % fit.count] }
        }
    }

    /// Picks a random accepting group not yet tried, skipping groups over the failure threshold without
    /// probing them; probes the group with one write, then inserts `make(tag)` there. A failed probe or an
    /// insert failing with `.unavailable` records a failure and hops on; a taken order number calls `make`
    /// again for the same group (bounded, then `.duplicateKey`). Any other insert error is thrown as is.
    /// Returns the order and the groups hopped away from; `.noGroupAvailable` when every pick failed.
    ///
    /// A group with no recent failures gets the probe and the insert in one commit
    /// (`probeAndInsertOrder`); a group with recent failures is probed alone first, by one request at a time.
    public func createOrder(_ make: (GroupTag) -> OrderRecord) throws -> (order: OrderRecord, hops: [GroupTag]) {
        var tried: [GroupTag] = []
        var probes = 0
        let maxProbes = configuration.maxAttempts ?? locked { groups.count }
        while probes < maxProbes {
            let now = clock()
            guard let (tag, store, over) = pick(excluding: Set(tried), now: now) else { break }
            tried.append(tag)
            if over { continue }
            let insert: (OrderRecord) throws -> Void
            switch claimProbe(tag, now: now) {
            case .takenByAnother:
                continue
            case .healthy:
                probes += 1
                insert = { try store.probeAndInsertOrder($0, now: now) }
            case .claimed:
                probes += 1
                do {
                    defer { endProbe(tag) }
                    try store.probeWrite(now: now)
                } catch {
                    recordFailure(tag, probe: true)
                    continue
                }
                insert = { try store.insertOrder($0) }
            }
            var duplicates = 0
            while true {
                let order = make(tag)
                do {
                    try insert(order)
                    locked { groups[tag]?.stats.ordersCreated += 1 }
                    return (order, Array(tried.dropLast()))
                } catch StorageError.duplicateKey(let message) {
                    duplicates += 1
                    if duplicates > configuration.duplicateRetries { throw StorageError.duplicateKey(message) }
                } catch StorageError.unavailable {
                    recordFailure(tag, probe: true)
                    break
                }
            }
        }
        throw HoppingError.noGroupAvailable(tried: tried)
    }

    private enum ProbeClaim {
        /// No recent failures: probe and insert together.
        case healthy
        /// Recent failures, and this request is now the one probing the group.
        case claimed
        /// Recent failures, and another request is probing the group: hop on.
        case takenByAnother
    }

    /// Claims the probe of a group that has recent failures, so creates hop on instead of queueing behind
    /// a group that may be stuck.
    private func claimProbe(_ tag: GroupTag, now: Int64) -> ProbeClaim {
        locked {
            guard let g = groups[tag] else { return .takenByAnother }
            guard g.failures.value(at: now, halfLifeMs: halfLifeMs) >= 0.5 else { return .healthy }
            if g.probing { return .takenByAnother }
            groups[tag]!.probing = true
            return .claimed
        }
    }

    private func endProbe(_ tag: GroupTag) {
        locked { groups[tag]?.probing = false }
    }

    /// The group that holds data tagged `tag`: itself if configured, else where its route leads.
    public func resolve(_ tag: GroupTag) -> GroupTag? {
        locked {
            var current = tag
            // Bounded by the number of routes so a routing loop cannot hang us.
            for _ in 0...routes.count {
                if groups[current] != nil { return current }
                guard let next = routes[current] else { return nil }
                current = next
            }
            return nil
        }
    }

    /// Probes, with the one write, every group that new orders and numbers skip for its failures, one at a
    /// time and never one another request is probing: a group that takes it has its failures forgotten and
    /// takes orders again at once, instead of after its count has decayed (which, with numbers given only
    /// in fit groups, nothing else would test). Returns the groups found healthy again. Blocks for as long
    /// as the probes take; the service calls it from a thread of its own every second.
    @discardableResult
    public func probeSkippedGroups() -> [GroupTag] {
        let now = clock()
        let skipped = locked {
            groups.filter { !$0.value.frozen && $0.value.failures.value(at: now, halfLifeMs: halfLifeMs) >= configuration.failureThreshold }
                .keys.sorted()
        }
        var healed: [GroupTag] = []
        for tag in skipped {
            guard claimProbe(tag, now: now) == .claimed, let store = locked({ groups[tag]?.store }) else { continue }
            defer { endProbe(tag) }
            do {
                try store.probeWrite(now: clock())
                locked { groups[tag]?.failures = DecayingCounter() }
                healed.append(tag)
            } catch {
                recordFailure(tag, probe: true)
            }
        }
        return healed
    }

    /// Runs `body` on the group that holds data tagged `tag` (following routes). `StorageError.unavailable`
    /// records a failure and becomes `.groupUnavailable`; other errors pass through.
    public func withGroup<T>(_ tag: GroupTag, _ body: (OrderGroupStore) throws -> T) throws -> T {
        guard let target = resolve(tag), let group = locked({ groups[target] }) else {
            throw HoppingError.unknownGroup(tag)
        }
        if group.frozen { throw HoppingError.groupUnavailable(target, "frozen while its data moves") }
        let store = group.store
        do {
            return try body(store)
        } catch StorageError.unavailable(let message) {
            recordFailure(target)
            throw HoppingError.groupUnavailable(target, message)
        }
    }

    /// A store's or merchant's orders across all groups, newest first: asks every group at once for
    /// `limit` rows older than `before`, merges them and keeps the first `limit`. Groups that fail are listed in
    /// `unavailable` (hopping scatters a merchant's orders over every group, so every list asks them all).
    public func listOrders(_ scope: OrderListScope, before: OrderListCursor?, limit: Int) -> (orders: [OrderRecord], unavailable: [GroupTag]) {
        let stores = locked { groups.map { ($0.key, $0.value.store) } }.sorted { $0.0 < $1.0 }
        // The groups are asked at once (GCD's worker threads, not Swift's cooperative pool): a page
        // waits for the slowest group rather than for all of them one after another.
        let pages = PageSlots(count: stores.count)
        DispatchQueue.concurrentPerform(iterations: stores.count) { i in
            let (tag, store) = stores[i]
            do {
                pages.set(i, try store.listOrders(scope, before: before, limit: limit))
            } catch {
                if case StorageError.unavailable = error { recordFailure(tag) }
            }
        }
        var merged: [OrderRecord] = []
        var unavailable: [GroupTag] = []
        for (i, (tag, _)) in stores.enumerated() {
            if let rows = pages.get(i) { merged += rows } else { unavailable.append(tag) }
        }
        merged.sort { ($0.createdAt, $0.orderNo.digits) > ($1.createdAt, $1.orderNo.digits) }
        return (Array(merged.prefix(limit)), unavailable)
    }

    /// One entry per configured group, by tag.
    public func health() -> [GroupHealth] {
        let now = clock()
        return locked {
            groups.keys.sorted().map { tag in
                let g = groups[tag]!
                let failures = g.failures.value(at: now, halfLifeMs: halfLifeMs)
                // Takes new orders now: configured to, not frozen, and below the failure threshold.
                let accepting = g.accepting && !g.frozen && failures < configuration.failureThreshold
                return GroupHealth(group: tag.value, accepting: accepting, recentFailures: failures)
            }
        }
    }

    /// Whether new orders would skip `tag` now because of its recent failures.
    public func isOverThreshold(_ tag: GroupTag) -> Bool {
        let now = clock()
        return locked { (groups[tag]?.failures.value(at: now, halfLifeMs: halfLifeMs) ?? 0) >= configuration.failureThreshold }
    }

    /// Each configured group's store, by tag (for metrics of the stores themselves).
    public func stores() -> [GroupTag: OrderGroupStore] {
        locked { groups.mapValues(\.store) }
    }

    public func stats() -> [GroupTag: GroupStats] {
        locked { groups.mapValues(\.stats) }
    }

    // MARK: Scale out and in

    /// Adds (or replaces the store of) a group.
    public func addGroup(_ tag: GroupTag, store: OrderGroupStore, accepting: Bool = true) {
        locked {
            if groups[tag] != nil {
                groups[tag]!.store = store
                groups[tag]!.accepting = accepting
            } else {
                groups[tag] = Group(store: store, accepting: accepting)
            }
        }
    }

    public func setAccepting(_ tag: GroupTag, _ accepting: Bool) throws {
        try locked {
            guard groups[tag] != nil else { throw HoppingError.unknownGroup(tag) }
            groups[tag]!.accepting = accepting
        }
    }

    /// Freezes or thaws a group: a frozen group takes no new orders and answers every call with
    /// `.groupUnavailable` (retryable) while its data is being moved.
    public func setFrozen(_ tag: GroupTag, _ frozen: Bool) throws {
        try locked {
            guard groups[tag] != nil else { throw HoppingError.unknownGroup(tag) }
            groups[tag]!.frozen = frozen
        }
    }

    /// Sends calls for `from` to `to`; nil removes the route.
    public func setRoute(from: GroupTag, to: GroupTag?) {
        locked { routes[from] = to }
    }

    /// Forgets a group; its tag then works only through a route.
    public func removeGroup(_ tag: GroupTag) {
        locked { _ = groups.removeValue(forKey: tag) }
    }

    public var groupTags: [GroupTag] { locked { groups.keys.sorted() } }
    public var acceptingTags: [GroupTag] { locked { groups.filter(\.value.accepting).keys.sorted() } }
    public var currentRoutes: [GroupTag: GroupTag] { locked { routes } }

    /// Copies every order and refund of group `from` into group `into` (rows already there are kept),
    /// in batches; returns how many orders were copied. Used to retire a group.
    @discardableResult
    public func migrate(from: GroupTag, into: GroupTag, batchSize: Int = 500) throws -> Int {
        guard let source = locked({ groups[from]?.store }) else { throw HoppingError.unknownGroup(from) }
        guard let target = locked({ groups[into]?.store }) else { throw HoppingError.unknownGroup(into) }
        var after: OrderNumber?
        var copied = 0
        while true {
            let batch = try source.allOrders(after: after, limit: batchSize)
            for order in batch {
                try target.importOrder(order, refunds: try source.refunds(of: order.orderNo))
            }
            copied += batch.count
            guard batch.count == batchSize, let last = batch.last else { return copied }
            after = last.orderNo
        }
    }
}

extension OrderListCursor {
    /// Where the page after `page` (a list asked for `limit` rows) starts; nil when the page was short,
    /// so the last one.
    public static func after(_ page: [OrderRecord], limit: Int) -> OrderListCursor? {
        guard page.count == limit, let last = page.last else { return nil }
        return OrderListCursor(createdAt: last.createdAt, orderNo: last.orderNo.digits)
    }
}

/// One page slot per group for a list's concurrent fan-out; a slot left empty is a group that failed.
/// `@unchecked Sendable`: guarded by `lock`.
private final class PageSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [[OrderRecord]?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ i: Int, _ rows: [OrderRecord]) {
        lock.lock(); defer { lock.unlock() }
        slots[i] = rows
    }

    func get(_ i: Int) -> [OrderRecord]? {
        lock.lock(); defer { lock.unlock() }
        return slots[i]
    }
}
