import Foundation

/// Times as people in a store read them (screens, receipts, reports): in the store's time zone, an IANA
/// name such as `Asia/Shanghai`. The wire and every database keep UTC milliseconds; only what is shown
/// is converted, with the zone's offset at that instant (so summer time is right on either side of a
/// change).
public struct StoreTime: Sendable, Equatable {
    /// The zone's IANA name as configured (`UTC` for UTC).
    public let identifier: String
    private let zone: TimeZone

    /// The zone named `identifier`; nil for a name the system's time-zone database does not know.
    public init?(identifier: String) {
        guard !identifier.isEmpty, identifier.count <= 64, let zone = TimeZone(identifier: identifier) else { return nil }
        self.identifier = identifier
        self.zone = zone
    }

    public static let utc = StoreTime(identifier: "UTC")!

    /// The store's zone, UTC when the store has none set (a service from before store time zones) or
    /// names one this system does not know.
    public init(store: StoreInfo?) {
        self = store?.timeZone.flatMap(StoreTime.init(identifier:)) ?? .utc
    }

    /// `YYYY-MM-DD hh:mm:ss` in the zone.
    public func display(ms: Int64) -> String {
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))
        return CivilTime(epochSeconds: Int64((Double(ms) / 1000).rounded(.down)) + Int64(offset)).display
    }

    public static func == (a: StoreTime, b: StoreTime) -> Bool { a.identifier == b.identifier }
}
