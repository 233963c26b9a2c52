import CashierCore
import Foundation

/// The time a terminal signs with: its own clock corrected by what the service's signed answers taught
/// (`ClockCorrection`). One is shared by all of a terminal's connections, since both domains serve
/// one service.
public final class ServiceClock: @unchecked Sendable {
    // @unchecked: `correction` is only touched while `lock` is held; the rest is immutable.
    private let lock = NSLock()
    private var correction = ClockCorrection()
    private let localClock: @Sendable () -> Int64
    private let onCorrection: (@Sendable (_ offsetMs: Int64) -> Void)?

    /// - Parameters:
    ///   - localClock: the terminal's own Unix time in milliseconds.
    ///   - onCorrection: told the new offset each time it changes (for the log).
    public init(localClock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) },
                onCorrection: (@Sendable (_ offsetMs: Int64) -> Void)? = nil) {
        self.localClock = localClock
        self.onCorrection = onCorrection
    }

    /// The service's time as best known, Unix milliseconds.
    public func nowMs() -> Int64 {
        let local = localClock()
        return lock.withLock { correction.serviceTimeMs(localMs: local) }
    }

    /// Milliseconds added to the terminal's clock (0 until the service has said otherwise).
    public var offsetMs: Int64 { lock.withLock { correction.offsetMs } }

    /// Learns from a signed answer stamped `serviceSeconds`, telling `onCorrection` if the offset changed.
    /// (Whoever wants to know whether to sign again compares `offsetMs` before and after.)
    func learn(serviceSeconds: Int64) {
        let local = localClock()
        let changed: Int64? = lock.withLock {
            correction.learn(serviceSeconds: serviceSeconds, receivedAtLocalMs: local) ? correction.offsetMs : nil
        }
        if let changed { onCorrection?(changed) }
    }
}
