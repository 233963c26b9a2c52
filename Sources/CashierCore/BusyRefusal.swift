/// Refusals that mean "not now" and prove the request did nothing, and when to try again.
///
/// The service sheds load before it reads a request (`OVERLOADED`), and a create that found no order
/// group able to take it created nothing (`NO_GROUP_AVAILABLE`); a request refused because the base data
/// could not be read or written (`BASE_UNAVAILABLE`) was refused before any handler ran. Sending such a request again is always
/// safe, a pay included, and a sale that waits a second for it is better than a sale that fails: the
/// terminal tries another domain that its probes found healthy at once, and otherwise this one again
/// after a short, growing, jittered pause, a few times.
public enum BusyRefusal {
    /// Whether `code`, answered to a request on `path`, is such a refusal.
    public static func isBusy(_ code: ErrorCode, method: String, path: String) -> Bool {
        switch code {
        case .overloaded, .baseUnavailable: return true
        case .noGroupAvailable: return method == "POST" && path == API.Path.orders
        default: return false
        }
    }

    /// The pause before try `attempt` (1 for the first try again): `baseMs` doubled each time, ±20 %
    /// jitter from `unitRandom` in 0..<1, never negative. No ceiling of its own (the tries are few); the
    /// bound only keeps the arithmetic in range.
    public static func delayMs(attempt: Int, baseMs: Int64, unitRandom: Double) -> Int64 {
        Backoff.jitteredDelayMs(attempt: attempt, baseMs: baseMs, ceilingMs: Int64.max / 4, jitterFraction: 0.2,
                                unitRandom: unitRandom)
    }
}
