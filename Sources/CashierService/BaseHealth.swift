import Foundation

/// Whether the base data takes writes, as `/healthz` reports it.
///
/// Every signed request writes the base data (its nonce), so an instance whose base data cannot be
/// written (disk full, locked, down) can answer nothing but refusals, and must say so to the load
/// balancer. Requests that meet a base failure mark it at once; `/healthz` then finds out by itself, with
/// one small write (a nonce for a device that cannot exist, pruned like any other) at most every
/// `probeIntervalMs`, whether the base data has come back.
final class BaseHealth: @unchecked Sendable {
    // @unchecked: the two fields are guarded by `lock`; `probe` is immutable.
    /// Device ids are 1–64 of `A-Z a-z 0-9 _ -`; activation only ever makes ids that start with `D`.
    static let probeDeviceID = "_healthz"
    static let probeIntervalMs: Int64 = 2_000

    private let probe: @Sendable (_ now: Int64) throws -> Void
    private let lock = NSLock()
    private var failing = false
    /// When `failing` was last found out; nil before the first finding.
    private var checkedAt: Int64?
    /// When the base data was first found failing since it last took a write; nil while it takes writes.
    private var failingSince: Int64?

    init(probe: @escaping @Sendable (_ now: Int64) throws -> Void) {
        self.probe = probe
    }

    /// A request could not read or write the base data.
    func noteFailure(now: Int64) {
        lock.lock()
        failing = true
        if failingSince == nil { failingSince = now }
        checkedAt = now
        lock.unlock()
    }

    /// How long the base data has been failing by the latest finding (0 while it takes writes).
    func failingFor(now: Int64) -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        return failingSince.map { max(0, now - $0) } ?? 0
    }

    /// Whether the base data takes writes: the latest finding, checked afresh by a probe write when it is
    /// older than `probeIntervalMs`.
    func isWritable(now: Int64) -> Bool {
        lock.lock()
        let due = checkedAt.map { now - $0 >= Self.probeIntervalMs } ?? true
        let known = !failing
        lock.unlock()
        guard due else { return known }
        let ok = (try? probe(now)) != nil
        lock.lock()
        failing = !ok
        if ok { failingSince = nil } else if failingSince == nil { failingSince = now }
        checkedAt = now
        lock.unlock()
        return ok
    }
}
