import Foundation

/// Copies of one safe request sent to several domains, each on a thread of its own: the first answer
/// counts.
///
/// An answer is a success or a refusal from the service; a transport failure only counts once every
/// copy has failed (the latest failure is returned). Copies still running when an answer is taken
/// finish in the background and are dropped: only requests that are harmless to repeat are raced.
final class FirstAnswer<Answer: Sendable, Failure: Error & Sendable>: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`.
    typealias Outcome = (domain: Int, result: Result<Answer, Failure>)

    private let condition = NSCondition()
    private let isTransportFailure: @Sendable (Failure) -> Bool
    private var running = 0
    private var answer: Outcome?
    private var lastFailure: Outcome?

    /// - Parameter isTransportFailure: whether a failure may be overtaken by another copy's answer.
    init(isTransportFailure: @escaping @Sendable (Failure) -> Bool) {
        self.isTransportFailure = isTransportFailure
    }

    /// Sends one copy on a new thread.
    func start(domain: Int, _ send: @escaping @Sendable () -> Result<Answer, Failure>) {
        condition.lock(); running += 1; condition.unlock()
        let thread = Thread { [self] in
            let result = send()
            condition.lock()
            running -= 1
            if case .failure(let f) = result, isTransportFailure(f) {
                lastFailure = (domain, result)
            } else if answer == nil {
                answer = (domain, result)
            }
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "cashier-request-\(domain)"
        thread.start()
    }

    /// The first answer, or the latest failure once no copy is running; nil if neither came within `milliseconds`.
    func wait(milliseconds: Int) -> Outcome? {
        let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
        condition.lock(); defer { condition.unlock() }
        while true {
            if let answer { return answer }
            if running == 0, let lastFailure { return lastFailure }
            if !condition.wait(until: deadline) { return nil }
        }
    }
}
