import CashierStorage
import Foundation

/// Devices and their stores as last read from the base data, so that a terminal seen shortly before the base
/// data became unreachable can still have its signed requests verified (docs/SECURITY.md, "Base data unreachable").
///
/// Read-through and used only as a fallback: every request reads the base data first, and only when that read
/// fails is an entry used, and only one read successfully less than `ttlMs` ago. So while the base data answers,
/// a revocation blocks a terminal at its next request; during an outage, at most `ttlMs` after the last
/// successful read, which was before the revocation. A revoked device's entry says so and keeps it blocked.
final class DeviceCache: @unchecked Sendable {
    // @unchecked: `entries` is guarded by `lock`; `ttlMs` is immutable.
    struct Entry {
        var device: DeviceRecord
        var store: StoreRecord
        var readAt: Int64
    }

    /// Entries kept before expired ones are dropped: a chain's terminals, with room to spare.
    static let pruneAbove = 100_000

    let ttlMs: Int64
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    /// When expired entries were last dropped: at most once per `ttlMs`, so a chain with more fresh entries than
    /// `pruneAbove` does not pay for a sweep on every request.
    private var prunedAt: Int64 = 0

    init(ttlSeconds: Int) {
        ttlMs = Int64(max(0, ttlSeconds)) * 1000
    }

    var isEnabled: Bool { ttlMs > 0 }

    /// What the base data said of `device` and its store at `now`.
    func remember(_ device: DeviceRecord, store: StoreRecord, now: Int64) {
        guard isEnabled else { return }
        lock.lock()
        defer { lock.unlock() }
        entries[device.id] = Entry(device: device, store: store, readAt: now)
        if entries.count > Self.pruneAbove, now - prunedAt >= ttlMs {
            entries = entries.filter { now - $0.value.readAt < ttlMs }
            prunedAt = now
        }
    }

    /// The base data said the device (or its store) does not exist.
    func forget(_ deviceID: String) {
        guard isEnabled else { return }
        lock.lock()
        entries[deviceID] = nil
        lock.unlock()
    }

    /// The device and store as read less than `ttlMs` before `now`, or nil.
    func lookup(_ deviceID: String, now: Int64) -> (device: DeviceRecord, store: StoreRecord)? {
        guard isEnabled else { return nil }
        lock.lock()
        defer { lock.unlock() }
        guard let e = entries[deviceID], now - e.readAt < ttlMs, now >= e.readAt - 1_000 else { return nil }
        return (e.device, e.store)
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
