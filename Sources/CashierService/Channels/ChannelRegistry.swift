import CashierChannels
import CashierCore
import CashierStorage
import Foundation

/// The payment channels each store takes, built from the store's channel settings in the base data.
///
/// Every instance reads the same base data, so a channel added to a store (`cashierd store channel set`)
/// reaches every instance within `refreshMs`. An adapter is built once per store and settings and then
/// kept, so its per-domain health survives between requests; changed settings build a new one.
final class ChannelRegistry: @unchecked Sendable {
    // @unchecked: `cache` is guarded by `lock`; everything else is immutable.
    /// Builds a channel of one kind from a store's settings (JSON text); throws when they cannot be used.
    typealias Factory = @Sendable (_ settings: String) throws -> PaymentChannel

    private let base: BaseStore
    private let factories: [ChannelKind: Factory]
    private let refreshMs: Int64
    private let lock = NSLock()
    private var cache: [String: Entry] = [:]

    private struct Entry {
        var fetchedAt: Int64
        var channels: [ChannelKind: Built]
    }

    private struct Built {
        var settings: String
        var channel: Result<PaymentChannel, ChannelSetupError>
    }

    /// Why a store's channel cannot be used.
    struct ChannelSetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// How long past `refreshMs` a store's channels may still be used when the base data cannot be read to
    /// refresh them (`base.device_cache_seconds`: as long as its terminals are still let in).
    private let staleMs: Int64

    init(base: BaseStore, factories: [ChannelKind: Factory], refreshMs: Int64 = 30_000, staleMs: Int64 = 0) {
        self.base = base
        self.factories = factories
        self.refreshMs = refreshMs
        self.staleMs = staleMs
    }

    /// The store's channel of `kind`: nil when the store does not have it; throws `ChannelSetupError` when
    /// it has it but its settings cannot be used, and `StorageError` when the base data cannot be read.
    func channel(_ kind: ChannelKind, storeID: String, now: Int64) throws -> PaymentChannel? {
        lock.lock()
        let cached = cache[storeID]
        lock.unlock()
        let entry: Entry
        if let cached, now - cached.fetchedAt < refreshMs {
            entry = cached
        } else {
            do {
                entry = try refresh(storeID: storeID, previous: cached, now: now)
            } catch let error as StorageError {
                // The base data cannot be read: the channels as last read, for a while.
                guard let cached, now - cached.fetchedAt < refreshMs + staleMs else { throw error }
                entry = cached
            }
        }
        guard let built = entry.channels[kind] else { return nil }
        return try built.channel.get()
    }

    private func refresh(storeID: String, previous: Entry?, now: Int64) throws -> Entry {
        let records = try base.storeChannels(storeID: storeID)
        var channels: [ChannelKind: Built] = [:]
        for record in records {
            guard let kind = ChannelKind(rawValue: record.channel) else { continue }
            if let old = previous?.channels[kind], old.settings == record.settings {
                channels[kind] = old
                continue
            }
            let result: Result<PaymentChannel, ChannelSetupError>
            if let factory = factories[kind] {
                do {
                    result = .success(try factory(record.settings))
                } catch {
                    result = .failure(ChannelSetupError(description: "the store's \(kind.rawValue) settings cannot be used: \(error)"))
                }
            } else {
                result = .failure(ChannelSetupError(description: "this service has no \(kind.rawValue) adapter"))
            }
            channels[kind] = Built(settings: record.settings, channel: result)
        }
        let entry = Entry(fetchedAt: now, channels: channels)
        lock.lock()
        cache[storeID] = entry
        lock.unlock()
        return entry
    }
}
