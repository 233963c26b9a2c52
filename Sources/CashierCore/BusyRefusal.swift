/// Refusals that mean "not now" and prove the request did nothing, and when to try again.
///
/// The service sheds load before it reads a request (`OVERLOADED`), and a create that found no order
/// group able to take it created nothing (`NO_GROUP_AVAILABLE`). Sending such a request again is always
/// safe, a pay included, and a sale that waits a second for it is better than a sale that fails: the
/// terminal tries another domain that its probes found healthy at once, and otherwise this one again
/// after a short, growing, jittered pause, a few times.
public enum BusyRefusal {
    /// Whether `code`, answered to a request on `path`, is such a refusal.
    public static func isBusy(_ code: ErrorCode, method: String, path: String) -> Bool {
        switch code {
        case .overloaded: return true
        case .noGroupAvailable: return method == "POST" && path == API.Path.orders
        default: return false
        }
    }

    /// The pause before try `attempt` (1 for the first try again): `baseMs` doubled each time, ±20 %
    /// jitter from `unitRandom` in 0..<1, never negative.
    public static func delayMs(attempt: Int, baseMs: Int64, unitRandom: Double) -> Int64 {
        let exponent = Int64(min(max(attempt - 1, 0), 20))
        let (product, overflow) = max(baseMs, 0).multipliedReportingOverflow(by: Int64(1) << exponent)
        let base = Double(overflow ? Int64.max / 2 : product)
        let r = min(max(unitRandom, 0), 1)
        return max(Int64((base * (0.8 + 0.4 * r)).rounded()), 0)
    }
}
