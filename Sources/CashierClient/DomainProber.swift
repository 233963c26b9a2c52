import CashierCore
import Foundation
import HTTPClient

/// What probing tells its subscribers.
public enum ProbeNews: Equatable, Sendable {
    /// One domain's probe result; `latencyMs` when it answered well, `error` when not.
    case result(domain: Int, round: Int, latencyMs: Int64?, error: String?)
    /// Requests go to `to` from now on.
    case switched(from: Int?, to: Int)
    /// Every domain failed `failedRounds` rounds in a row; the next round starts in `retryInMs`.
    case unreachable(failedRounds: Int, retryInMs: Int64)
    /// A trigger joined a running or planned round.
    case coalesced
    /// A round started for this reason.
    case roundStarted(round: Int)
}

/// Runs `ProbeStateMachine` for real: probes every domain at once on threads of its own, runs the
/// machine's timers on one timer thread, and tells subscribers what happened.
public final class DomainProber: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`.
    public let urls: [String]
    private let transports: [SignedTransport]
    private let credentials: @Sendable () -> DeviceCredentials?
    private let condition = NSCondition()
    private var machine: ProbeStateMachine
    private var subscribers: [Int: @Sendable (ProbeNews) -> Void] = [:]
    private var nextSubscriber = 0
    private var lastFailures: [Int: CallFailure] = [:]
    private var winnerRound = 0
    private var finishedRound = 0
    private var stopped = false
    private var timerThreadStarted = false
    private let storeSeen: (@Sendable (StoreInfo) -> Void)?

    /// - Parameters:
    ///   - credentials: the device's credentials when activated (probes then send a signed ping), nil
    ///     before (probes ask `/healthz`).
    ///   - clock: the terminal's corrected clock, shared with its other connections.
    ///   - storeSeen: told the store as each signed ping's answer has it, so the terminal keeps up with
    ///     changes to it (its time zone) without activating again.
    public init(urls: [String], configuration: ClientConfiguration, clock: ServiceClock = ServiceClock(),
                storeSeen: (@Sendable (StoreInfo) -> Void)? = nil,
                credentials: @escaping @Sendable () -> DeviceCredentials?) throws {
        self.storeSeen = storeSeen
        self.urls = urls
        // Probes get connections of their own so a slow request never delays a probe.
        var http = configuration.http
        http.totalTimeoutMs = Int(configuration.probe.probeTimeoutMs)
        http.connectTimeoutMs = min(http.connectTimeoutMs, Int(configuration.probe.probeTimeoutMs))
        self.transports = try urls.map { try SignedTransport(baseURL: $0, http: http, clock: clock) }
        self.credentials = credentials
        self.machine = ProbeStateMachine(domainNames: urls, configuration: configuration.probe)
    }

    deinit { stop() }

    /// Stops timers; probes under way finish on their own.
    public func stop() {
        condition.lock(); stopped = true; condition.broadcast(); condition.unlock()
    }

    @discardableResult
    public func subscribe(_ handler: @escaping @Sendable (ProbeNews) -> Void) -> Int {
        condition.lock(); defer { condition.unlock() }
        nextSubscriber += 1
        subscribers[nextSubscriber] = handler
        return nextSubscriber
    }

    public func unsubscribe(_ id: Int) {
        condition.lock(); subscribers[id] = nil; condition.unlock()
    }

    /// A copy of the machine, for the status display.
    public var snapshot: ProbeStateMachine { condition.lock(); defer { condition.unlock() }; return machine }

    public var active: Int? { condition.lock(); defer { condition.unlock() }; return machine.active }

    /// The failures of the latest finished probes, by domain.
    public var failures: [Int: CallFailure] { condition.lock(); defer { condition.unlock() }; return lastFailures }

    /// Starts the first round.
    public func startUp() { feed(.startUp) }

    /// Uses a good result an earlier run kept, while this run's probes have not answered (`ProbeEvent.remembered`).
    public func remember(domain: Int, latencyMs: Int64, atMs: Int64, maxAgeMs: Int64) {
        feed(.remembered(domain: domain, latencyMs: latencyMs, atMs: atMs, maxAgeMs: maxAgeMs))
    }

    /// Tells probing a request to `domain` timed out or could not connect (this may start a round).
    /// Returns the round whose end the caller may wait for with `awaitChoice(afterRound:)`.
    public func requestFailed(domain: Int, reason: String) -> Int {
        condition.lock()
        let target = machine.roundRunning ? machine.round : machine.round + 1
        condition.unlock()
        feed(.requestFailed(domain: domain, reason: reason))
        return target
    }

    /// Tells probing a request to `domain` has had no answer for `afterMs` and is still waiting (this may
    /// start a round; a domain that wins it becomes active).
    public func requestSlow(domain: Int, afterMs: Int64) {
        feed(.requestSlow(domain: domain, afterMs: afterMs))
    }

    /// Waits until some domain won a round numbered `round` or later, or such a round ended with no winner,
    /// or `timeoutMs` passed. Returns the active domain (nil when none answered).
    public func awaitChoice(round: Int, timeoutMs: Int64) -> Int? {
        let deadline = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        condition.lock(); defer { condition.unlock() }
        while winnerRound < round && finishedRound < round && !stopped {
            if !condition.wait(until: deadline) { break }
        }
        return winnerRound >= round ? machine.active : nil
    }

    /// The active domain, waiting (bounded) for the round in progress when there is none yet.
    public func activeOrAwait(timeoutMs: Int64) -> Int? {
        condition.lock()
        if let a = machine.active { condition.unlock(); return a }
        let target = max(machine.round, 1)
        condition.unlock()
        return awaitChoice(round: target, timeoutMs: timeoutMs)
    }

    // MARK: - Running the machine

    private func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    private func feed(_ event: ProbeEvent) {
        condition.lock()
        let before = (active: machine.active, failed: machine.failedRoundsInARow, round: machine.round)
        let actions = machine.handle(event, nowMs: nowMs())
        var news: [ProbeNews] = []
        var probes: [(Int, Int)] = []
        var wake = false
        for action in actions {
            switch action {
            case let .probe(domains, round):
                probes += domains.map { ($0, round) }
                news.append(.roundStarted(round: round))
            case let .activate(domain):
                news.append(.switched(from: before.active, to: domain))
            case .scheduleTimer:
                wake = true
            case .coalesced:
                news.append(.coalesced)
            case .note:
                break
            }
        }
        switch event {
        case let .probeAnswered(d, r, latency):
            news.insert(.result(domain: d, round: r, latencyMs: latency, error: nil), at: 0)
        case let .probeFailed(d, r, reason):
            news.insert(.result(domain: d, round: r, latencyMs: nil, error: reason), at: 0)
        default: break
        }
        if case let .probeAnswered(_, r, _) = event, r == machine.round, machine.failedRoundsInARow == 0, !machine.unreachable, machine.active != nil {
            // The machine clears its failure count only when a round has a winner.
            winnerRound = max(winnerRound, r)
        }
        if !machine.roundRunning && machine.round > finishedRound && machine.round > 0 && machine.failedRoundsInARow > before.failed {
            finishedRound = machine.round
            let retry = max((machine.nextWakeUpMs ?? nowMs()) - nowMs(), 0)
            news.append(.unreachable(failedRounds: machine.failedRoundsInARow, retryInMs: retry))
        }
        if !machine.roundRunning && machine.round > 0 { finishedRound = max(finishedRound, machine.round) }
        let handlers = Array(subscribers.values)
        if wake { ensureTimerThread(); }
        condition.broadcast()
        condition.unlock()

        for n in news { for h in handlers { h(n) } }
        for (domain, round) in probes { launchProbe(domain: domain, round: round) }
    }

    private func ensureTimerThread() {
        // Called with the lock held.
        guard !timerThreadStarted else { return }
        timerThreadStarted = true
        let thread = Thread { [weak self] in self?.timerLoop() }
        thread.name = "cashier-probe-timer"
        thread.start()
    }

    /// Delivers `.timerFired` whenever the machine's next wake-up time comes.
    private func timerLoop() {
        while true {
            condition.lock()
            if stopped { condition.unlock(); return }
            let wake = machine.nextWakeUpMs
            let now = nowMs()
            if let wake, wake <= now {
                condition.unlock()
                feed(.timerFired)
                continue
            }
            let waitMs = wake.map { $0 - now } ?? 1_000
            _ = condition.wait(until: Date().addingTimeInterval(Double(min(waitMs, 1_000)) / 1000))
            condition.unlock()
        }
    }

    private func launchProbe(domain: Int, round: Int) {
        let thread = Thread { [self] in
            let started = Date()
            let result: Result<SignedTransport.Answer, CallFailure>
            if let creds = credentials() {
                result = transports[domain].call("GET", API.Path.ping, credentials: creds)
            } else {
                result = transports[domain].health()
            }
            let latency = Int64(Date().timeIntervalSince(started) * 1000)
            switch result {
            case .success(let answer):
                if let storeSeen, let ping = try? API.decode(PingResponse.self, from: answer.body) { storeSeen(ping.store) }
                condition.lock(); lastFailures[domain] = nil; condition.unlock()
                feed(.probeAnswered(domain: domain, round: round, latencyMs: latency))
            case .failure(.service(let e)) where !e.retryable:
                // The domain is up and answered (e.g. the device was revoked): reachable.
                condition.lock(); lastFailures[domain] = nil; condition.unlock()
                feed(.probeAnswered(domain: domain, round: round, latencyMs: latency))
            case .failure(let f):
                condition.lock(); lastFailures[domain] = f; condition.unlock()
                feed(.probeFailed(domain: domain, round: round, reason: f.description))
            }
        }
        thread.name = "cashier-probe-\(domain)"
        thread.start()
    }
}
