/// How far this terminal's clock is from the service's, as learnt from the service's signed answers.
///
/// A terminal whose clock is more than the allowed skew off signs requests the service refuses
/// (`TIMESTAMP_SKEWED`) and cannot take a single payment. The service signs that refusal and stamps it
/// with its own time, so the terminal can learn the difference, sign again with the service's time and
/// sell on; staff still see in the log that the clock wants fixing. Pure value: no clock of its own.
public struct ClockCorrection: Sendable, Equatable {
    /// Added to the terminal's clock to get the service's, in milliseconds.
    public private(set) var offsetMs: Int64

    /// A learnt offset within this much of the one in use is not news: signing again would be refused again.
    public static let toleranceMs: Int64 = 1_000

    public init(offsetMs: Int64 = 0) { self.offsetMs = offsetMs }

    /// The service's time as best known, in milliseconds, given the terminal's.
    public func serviceTimeMs(localMs: Int64) -> Int64 {
        let (sum, overflow) = localMs.addingReportingOverflow(offsetMs)
        return overflow ? localMs : sum
    }

    /// The offset's size in whole seconds, rounded, as people are shown it.
    public static func wholeSeconds(offsetMs: Int64) -> UInt64 { (offsetMs.magnitude + 500) / 1000 }

    /// The offset in words for people, e.g. "about 3600 s behind".
    public static func describe(offsetMs: Int64) -> String {
        "about \(wholeSeconds(offsetMs: offsetMs)) s \(offsetMs >= 0 ? "behind" : "ahead of")"
    }

    /// Learns from an answer the service signed and stamped `serviceSeconds`, received when the terminal's
    /// clock read `localMs`. Returns true when the offset changed, so a request refused for its timestamp
    /// is worth signing again; false when it is what was already in use (or the stamp is absurd).
    public mutating func learn(serviceSeconds: Int64, receivedAtLocalMs localMs: Int64) -> Bool {
        // The stamp has whole seconds: take the middle of its second.
        let (serviceMs, overflow1) = serviceSeconds.multipliedReportingOverflow(by: 1000)
        let (middle, overflow2) = serviceMs.addingReportingOverflow(500)
        let (proposed, overflow3) = middle.subtractingReportingOverflow(localMs)
        guard !overflow1, !overflow2, !overflow3 else { return false }
        let (change, overflow4) = proposed.subtractingReportingOverflow(offsetMs)
        guard overflow4 || change.magnitude > UInt64(Self.toleranceMs) else { return false }
        offsetMs = proposed
        return true
    }
}
