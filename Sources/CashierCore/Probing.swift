/// Choosing between the service's domains: a pure state machine with no I/O and no clock.
///
/// The caller sends probes, runs timers and measures latency; it feeds what happened in as
/// `ProbeEvent`s (with the current time in Unix ms) and carries out the returned `ProbeAction`s.
/// Rules: all domains are probed concurrently and the first good answer of a round wins at once;
/// later answers only update the status table. Triggers (start-up, a request that timed out or could
/// not connect, a request still without an answer after a while) that arrive while a round runs, or
/// within `minIntervalMs` of the last round, share one round. When every domain fails, rounds are
/// retried with exponential backoff plus jitter, capped.

/// Tunables of probing.
public struct ProbeConfiguration: Codable, Equatable, Sendable {
    /// No two trigger-started rounds begin closer together than this.
    public var minIntervalMs: Int64
    /// Delay before the first retry after a round where every domain failed.
    public var backoffBaseMs: Int64
    /// The longest delay between retry rounds, jitter included.
    public var backoffCeilingMs: Int64
    /// Each retry delay is moved by up to ± this fraction of itself, so terminals do not retry in step.
    public var jitterFraction: Double
    /// A probe with no answer after this long counts as failed.
    public var probeTimeoutMs: Int64
    /// After a round with a winner, the next round starts by itself this much later (0: never), so an idle
    /// terminal notices a domain going down or coming back, and keeps the standby domain known-good.
    public var idleProbeIntervalMs: Int64

    public init(minIntervalMs: Int64 = 2_000, backoffBaseMs: Int64 = 500, backoffCeilingMs: Int64 = 30_000,
                jitterFraction: Double = 0.2, probeTimeoutMs: Int64 = 3_000, idleProbeIntervalMs: Int64 = 15_000) {
        self.minIntervalMs = minIntervalMs; self.backoffBaseMs = backoffBaseMs
        self.backoffCeilingMs = backoffCeilingMs; self.jitterFraction = jitterFraction
        self.probeTimeoutMs = probeTimeoutMs; self.idleProbeIntervalMs = idleProbeIntervalMs
    }

    /// Every key may be left out of a configuration file and takes its default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ProbeConfiguration()
        minIntervalMs = try c.decodeIfPresent(Int64.self, forKey: .minIntervalMs) ?? d.minIntervalMs
        backoffBaseMs = try c.decodeIfPresent(Int64.self, forKey: .backoffBaseMs) ?? d.backoffBaseMs
        backoffCeilingMs = try c.decodeIfPresent(Int64.self, forKey: .backoffCeilingMs) ?? d.backoffCeilingMs
        jitterFraction = try c.decodeIfPresent(Double.self, forKey: .jitterFraction) ?? d.jitterFraction
        probeTimeoutMs = try c.decodeIfPresent(Int64.self, forKey: .probeTimeoutMs) ?? d.probeTimeoutMs
        idleProbeIntervalMs = try c.decodeIfPresent(Int64.self, forKey: .idleProbeIntervalMs) ?? d.idleProbeIntervalMs
    }

    /// The retry delay after `failedRounds` (≥ 1) failed rounds in a row, before jitter and cap.
    public func baseBackoffMs(failedRounds: Int) -> Int64 {
        Backoff.delayMs(attempt: failedRounds, baseMs: backoffBaseMs, ceilingMs: backoffCeilingMs)
    }

    /// The retry delay with jitter applied; `unitRandom` is in 0..<1. Never above the ceiling, never below 0.
    public func backoffMs(failedRounds: Int, unitRandom: Double) -> Int64 {
        Backoff.jitteredDelayMs(attempt: failedRounds, baseMs: backoffBaseMs, ceilingMs: backoffCeilingMs,
                                jitterFraction: jitterFraction, unitRandom: unitRandom)
    }
}

/// Why a probe round was asked for.
public enum ProbeTrigger: String, Codable, Sendable {
    case startUp
    case requestFailed
    case requestSlow
    case idle
}

/// What the state machine is told.
public enum ProbeEvent: Equatable, Sendable {
    /// The client started.
    case startUp
    /// A real request to `domain` timed out or could not connect.
    case requestFailed(domain: Int, reason: String)
    /// A real request to `domain` has had no answer for `afterMs`; it is still waiting, so nothing is
    /// held against the domain, but a round finds out whether another one answers sooner.
    case requestSlow(domain: Int, afterMs: Int64)
    /// The probe of `domain` sent in `round` answered well after `latencyMs`.
    case probeAnswered(domain: Int, round: Int, latencyMs: Int64)
    /// The probe of `domain` sent in `round` failed.
    case probeFailed(domain: Int, round: Int, reason: String)
    /// A timer asked for with `.scheduleTimer` went off (or any wake-up; early ones do nothing).
    case timerFired
    /// The good probe result an earlier run of this terminal kept: `domain` answered at `atMs`. While no
    /// probe of this run has answered, and the result is at most `maxAgeMs` old, the domain is used at
    /// once, so a cold start sends its first request without waiting for a probe (the round goes on, and
    /// its winner takes over).
    case remembered(domain: Int, latencyMs: Int64, atMs: Int64, maxAgeMs: Int64)
}

/// What the caller must do.
public enum ProbeAction: Equatable, Sendable {
    /// Send one probe to each of these domains, concurrently, tagged with `round`.
    case probe([Int], round: Int)
    /// Send requests to this domain from now on.
    case activate(Int)
    /// Deliver `.timerFired` at (or soon after) this time. Only the latest request matters.
    case scheduleTimer(atMs: Int64)
    /// The trigger joined a round that is running or already planned; nothing new is sent.
    case coalesced
    /// A line for the event stream.
    case note(String)
}

/// The latest probe result of one domain, for the status display.
public struct DomainProbeStatus: Codable, Equatable, Sendable {
    public var name: String
    /// Latency of the latest good answer; nil when the latest result was a failure or none yet.
    public var latencyMs: Int64?
    /// The latest failure; nil when the latest result was good.
    public var error: String?
    /// When the latest result arrived.
    public var atMs: Int64?
    public init(name: String, latencyMs: Int64? = nil, error: String? = nil, atMs: Int64? = nil) {
        self.name = name; self.latencyMs = latencyMs; self.error = error; self.atMs = atMs
    }
}

/// The probing state machine; see the file comment for its rules.
public struct ProbeStateMachine: Equatable, Sendable {
    public let configuration: ProbeConfiguration
    /// Per domain, indexed like the names given at creation.
    public private(set) var domains: [DomainProbeStatus]
    /// The domain requests go to; nil until some probe has answered well.
    public private(set) var active: Int?
    /// True when every domain failed in the last finished round.
    public private(set) var unreachable: Bool = false
    /// Number of the latest round started (0 = none yet).
    public private(set) var round: Int = 0
    /// Rounds in a row in which every domain failed.
    public private(set) var failedRoundsInARow: Int = 0

    /// Domains of the running round that have not answered yet; empty when no round runs.
    private var outstanding: Set<Int> = []
    private var roundHasWinner = false
    private var roundStartedAtMs: Int64?
    private var roundDeadlineMs: Int64?
    /// A round planned for later: a coalesced trigger (at the end of minInterval), a backoff retry, or
    /// an idle check.
    private var plannedRoundAtMs: Int64?
    /// Whether the planned round is only the idle check (a real trigger need not wait for it).
    private var plannedRoundIsIdle = false

    public init(domainNames: [String], configuration: ProbeConfiguration = ProbeConfiguration()) {
        precondition(!domainNames.isEmpty, "probing needs at least one domain")
        self.configuration = configuration
        self.domains = domainNames.map { DomainProbeStatus(name: $0) }
    }

    /// Whether a round is in flight.
    public var roundRunning: Bool { !outstanding.isEmpty }

    /// The earliest time the machine wants a `.timerFired`, if any.
    public var nextWakeUpMs: Int64? {
        [roundDeadlineMs, plannedRoundAtMs].compactMap { $0 }.min()
    }

    /// Feeds one event using the system random generator for jitter.
    public mutating func handle(_ event: ProbeEvent, nowMs: Int64) -> [ProbeAction] {
        var g = SystemRandomNumberGenerator()
        return handle(event, nowMs: nowMs, random: &g)
    }

    /// Feeds one event; `random` supplies jitter (tests pass a seeded generator).
    public mutating func handle<G: RandomNumberGenerator>(_ event: ProbeEvent, nowMs: Int64,
                                                          random: inout G) -> [ProbeAction] {
        switch event {
        case .startUp:
            return trigger(.startUp, nowMs: nowMs)
        case let .requestFailed(domain, reason):
            guard domains.indices.contains(domain) else { return [] }
            record(domain, latencyMs: nil, error: reason, nowMs: nowMs)
            return [.note("request to \(domains[domain].name) failed: \(reason)")]
                + trigger(.requestFailed, nowMs: nowMs)
        case let .requestSlow(domain, afterMs):
            guard domains.indices.contains(domain) else { return [] }
            return [.note("request to \(domains[domain].name) has no answer after \(afterMs) ms")]
                + trigger(.requestSlow, nowMs: nowMs)
        case let .probeAnswered(domain, r, latency):
            guard domains.indices.contains(domain) else { return [] }
            record(domain, latencyMs: latency, error: nil, nowMs: nowMs)
            var actions: [ProbeAction] = [.note("probe \(r): \(domains[domain].name) answered in \(latency) ms")]
            guard r == round, outstanding.remove(domain) != nil else { return actions }
            if !roundHasWinner {
                roundHasWinner = true
                unreachable = false
                failedRoundsInARow = 0
                if active != domain {
                    active = domain
                    actions += [.activate(domain), .note("using \(domains[domain].name)")]
                }
            }
            if outstanding.isEmpty { actions += finishRound(nowMs: nowMs, random: &random) }
            return actions
        case let .probeFailed(domain, r, reason):
            guard domains.indices.contains(domain) else { return [] }
            record(domain, latencyMs: nil, error: reason, nowMs: nowMs)
            var actions: [ProbeAction] = [.note("probe \(r): \(domains[domain].name) failed: \(reason)")]
            guard r == round, outstanding.remove(domain) != nil else { return actions }
            if outstanding.isEmpty { actions += finishRound(nowMs: nowMs, random: &random) }
            return actions
        case let .remembered(domain, latency, at, maxAge):
            guard domains.indices.contains(domain), active == nil, !roundHasWinner, at <= nowMs, nowMs - at <= maxAge else {
                return []
            }
            domains[domain] = DomainProbeStatus(name: domains[domain].name, latencyMs: latency, error: nil, atMs: at)
            active = domain
            return [.activate(domain), .note("using \(domains[domain].name), which answered \((nowMs - at) / 1000) s ago, until this round's probes answer")]
        case .timerFired:
            var actions: [ProbeAction] = []
            if let deadline = roundDeadlineMs, nowMs >= deadline, roundRunning {
                for d in outstanding.sorted() {
                    record(d, latencyMs: nil, error: "no answer in \(configuration.probeTimeoutMs) ms", nowMs: nowMs)
                    actions.append(.note("probe \(round): \(domains[d].name) timed out"))
                }
                outstanding = []
                actions += finishRound(nowMs: nowMs, random: &random)
            }
            if let planned = plannedRoundAtMs, nowMs >= planned, !roundRunning {
                if plannedRoundIsIdle { actions.append(.note("probing (\(ProbeTrigger.idle.rawValue))")) }
                plannedRoundAtMs = nil
                plannedRoundIsIdle = false
                actions += startRound(nowMs: nowMs)
            }
            if let next = nextWakeUpMs { actions.append(.scheduleTimer(atMs: next)) }
            return actions
        }
    }

    // MARK: - Internals

    private mutating func record(_ domain: Int, latencyMs: Int64?, error: String?, nowMs: Int64) {
        domains[domain] = DomainProbeStatus(name: domains[domain].name, latencyMs: latencyMs, error: error, atMs: nowMs)
    }

    private mutating func trigger(_ why: ProbeTrigger, nowMs: Int64) -> [ProbeAction] {
        if plannedRoundIsIdle {
            plannedRoundAtMs = nil
            plannedRoundIsIdle = false
        }
        if roundRunning || plannedRoundAtMs != nil { return [.coalesced] }
        if let started = roundStartedAtMs, nowMs - started < configuration.minIntervalMs {
            // Too soon after the last round: plan one round at the end of the interval for all such triggers.
            let at = started + configuration.minIntervalMs
            plannedRoundAtMs = at
            return [.coalesced, .scheduleTimer(atMs: nextWakeUpMs ?? at)]
        }
        return [.note("probing (\(why.rawValue))")] + startRound(nowMs: nowMs)
    }

    private mutating func startRound(nowMs: Int64) -> [ProbeAction] {
        round += 1
        outstanding = Set(domains.indices)
        roundHasWinner = false
        roundStartedAtMs = nowMs
        roundDeadlineMs = nowMs + configuration.probeTimeoutMs
        return [.probe(Array(domains.indices), round: round), .scheduleTimer(atMs: nextWakeUpMs ?? nowMs)]
    }

    private mutating func finishRound<G: RandomNumberGenerator>(nowMs: Int64, random: inout G) -> [ProbeAction] {
        roundDeadlineMs = nil
        if roundHasWinner {
            guard configuration.idleProbeIntervalMs > 0 else { return [] }
            plannedRoundAtMs = nowMs + configuration.idleProbeIntervalMs
            plannedRoundIsIdle = true
            return [.scheduleTimer(atMs: nextWakeUpMs ?? nowMs + configuration.idleProbeIntervalMs)]
        }
        unreachable = true
        failedRoundsInARow += 1
        let delay = configuration.backoffMs(failedRounds: failedRoundsInARow,
                                            unitRandom: Double.random(in: 0..<1, using: &random))
        plannedRoundAtMs = nowMs + delay
        return [.note("no domain answered (round \(round)); retrying in \(delay) ms"),
                .scheduleTimer(atMs: nowMs + delay)]
    }
}
