/// Tells a barcode scanner used as a keyboard from a person typing.
///
/// A scanner types a whole code in a burst and ends it with Enter; a person types a key every few hundred
/// milliseconds. A field's input is taken as **scanned** when it has at least `minimumLength` characters,
/// no gap between two keys (the Enter included) is longer than `maximumGap`, and the whole burst, first key
/// to Enter, took at most `maximumDuration`. Times are seconds on any monotonic clock. Pure: the caller
/// tells it each key's time.
public struct ScanDetector: Equatable, Sendable {
    public static let maximumGap = 0.1
    public static let maximumDuration = 1.5
    public static let minimumLength = 4

    private var firstAt: Double?
    private var lastAt: Double?
    private var count = 0
    private var slowGap = false

    public init() {}

    /// A character was typed into the field at `time`.
    public mutating func typed(at time: Double) {
        if let lastAt, time - lastAt > Self.maximumGap { slowGap = true }
        if firstAt == nil { firstAt = time }
        lastAt = time
        count += 1
    }

    /// Whether the input so far, ended by Enter at `time`, came from a scanner.
    public func isScan(endedAt time: Double) -> Bool {
        guard let firstAt, let lastAt, count >= Self.minimumLength, !slowGap else { return false }
        return time - lastAt <= Self.maximumGap && time - firstAt <= Self.maximumDuration
    }

    /// The field was emptied or its input taken: the next key starts afresh.
    public mutating func reset() { self = ScanDetector() }
}
