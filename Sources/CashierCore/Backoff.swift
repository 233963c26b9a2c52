/// Exponential backoff, shared by probing, reversing, refund retries and busy retries.
public enum Backoff {
    /// `baseMs` doubled for each attempt after the first (`attempt` ≥ 1), never above `ceilingMs`; an
    /// overflowing product is the ceiling.
    public static func delayMs(attempt: Int, baseMs: Int64, ceilingMs: Int64) -> Int64 {
        let exponent = Int64(min(max(attempt - 1, 0), 40))
        let (product, overflow) = baseMs.multipliedReportingOverflow(by: Int64(1) << exponent)
        return overflow ? ceilingMs : min(product, ceilingMs)
    }

    /// The same with ±`jitterFraction` jitter from `unitRandom` in 0..<1: never above the ceiling, never
    /// below 0.
    public static func jitteredDelayMs(attempt: Int, baseMs: Int64, ceilingMs: Int64, jitterFraction: Double,
                                       unitRandom: Double) -> Int64 {
        let base = Double(delayMs(attempt: attempt, baseMs: baseMs, ceilingMs: ceilingMs))
        let r = min(max(unitRandom, 0), 1)
        let jittered = base * (1 + jitterFraction * (2 * r - 1))
        return min(max(Int64(jittered.rounded()), 0), ceilingMs)
    }
}
