import CashierClient
import CashierCore
import CashierService
import Foundation

/// One step of the drill: what is done to the deployment at its start, and how long sales then run.
struct Phase: Sendable {
    var name: String
    /// The fault or the healing done as the phase begins.
    var action: @Sendable (Deployment, DrillMemory) throws -> Void
    /// True where no sale may fail: one group's primary lost (the seed's weekly drill), or one instance cut off
    /// from one group.
    var noFailures = false
    /// Groups whose database came back as this phase began: they must take orders again within it.
    var healedGroups: [Int] = []
    /// What must come back after the fault, timed from the action; the phase lasts until it has (bounded).
    var recovery: RecoveryProbe? = nil
    /// Alerts that must fire between this phase's start and the next one's end.
    var expectedAlerts: [String] = []
    /// The terminal must be on the other front door by the phase's end.
    var movesTheTerminal = false
}

/// What a drill phase knows of the terminal, and remembers for a later one: the members killed, the site lost.
final class DrillMemory: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var killed: [String: String] = [:]
    private var door: Int?
    private var site: Int?
    /// The front door (1 or 2) the terminal used as the phase began.
    var terminalDoor: Int? { get { lock.lock(); defer { lock.unlock() }; return door } set { lock.lock(); door = newValue; lock.unlock() } }
    /// The site taken off the network.
    var lostSite: Int? { get { lock.lock(); defer { lock.unlock() }; return site } set { lock.lock(); site = newValue; lock.unlock() } }
    func killedMember(of cluster: String) -> String? { lock.lock(); defer { lock.unlock() }; return killed[cluster] }
    func setKilledMember(_ member: String, of cluster: String) { lock.lock(); killed[cluster] = member; lock.unlock() }
}

/// The drill's plan: the seed's weekly and quarterly drills (primaries killed), the base data's primary killed,
/// an instance cut off from one group by the network, an instance killed, a whole site lost, scale out and in.
func drillPhases(groupCount: Int, instance1: String) -> [Phase] {
    let a = 0, b = min(1, groupCount - 1)
    let cut = groupCount > 1 ? 1 : 0
    func kill(_ clusters: [String]) -> @Sendable (Deployment, DrillMemory) throws -> Void {
        { deployment, memory in
            for c in clusters { memory.setKilledMember(try deployment.control("primary-kill", c), of: c) }
        }
    }
    func rejoin(_ clusters: [String]) -> @Sendable (Deployment, DrillMemory) throws -> Void {
        { deployment, memory in
            for c in clusters {
                guard let member = memory.killedMember(of: c) else { throw DrillError("no member of \(c) was killed") }
                try deployment.control("member-rejoin", c, member)
            }
            // Patroni promotes only a synchronous standby (an acknowledged commit is never lost): the next
            // fault may come only once the rejoined member is in sync again.
            for c in clusters { try deployment.control("wait-sync", c, "60") }
        }
    }
    let switchAlerts = ["PatroniMemberDown", "PatroniPrimarySwitched", "CashierdDatabaseReconnected"]
    return [
        Phase(name: "baseline", action: { _, _ in }),
        // The seed's weekly drill.
        Phase(name: "group \(a) primary killed", action: kill(["\(a)"]), noFailures: true,
              recovery: .groupOrders([a]), expectedAlerts: switchAlerts),
        Phase(name: "group \(a) old primary rejoined", action: rejoin(["\(a)"]), healedGroups: [a]),
        // The seed's quarterly drill: several groups at once.
        Phase(name: "groups \(a),\(b) primaries killed", action: kill(["\(a)", "\(b)"]),
              recovery: .groupOrders([a, b]), expectedAlerts: switchAlerts),
        Phase(name: "groups \(a),\(b) old primaries rejoined", action: rejoin(["\(a)", "\(b)"]), healedGroups: [a, b]),
        Phase(name: "base data primary killed", action: kill(["base"]), recovery: .baseData, expectedAlerts: switchAlerts),
        Phase(name: "base data old primary rejoined", action: rejoin(["base"])),
        // Cut, not killed: instance 1 goes on serving, skips group 1 (too many recent failures), and its sales
        // on numbers of group 1 are answered GROUP_UNAVAILABLE before anything is placed, so the terminal sells
        // them on its next number.
        Phase(name: "instance 1 cut off from group \(cut)", action: { d, _ in try d.control("group-cut", "1", "\(cut)") },
              noFailures: true, recovery: .groupSkipped(instance: 1, url: instance1, group: cut),
              expectedAlerts: ["CashierdGroupCallsFailing", "CashierdGroupDown"]),
        Phase(name: "instance 1 reaches group \(cut) again", action: { d, _ in try d.control("group-uncut", "1", "\(cut)") }),
        Phase(name: "instance 1 killed (SIGKILL)", action: { d, _ in try d.control("instance-kill", "1") },
              expectedAlerts: ["CashierdInstanceDown"]),
        Phase(name: "instance 1 restarted", action: { d, _ in try d.control("instance-start", "1") }),
        // The site of the door the terminal is using, so that it must move to the other domain.
        Phase(name: "terminal's site lost", action: { d, memory in
            let site = memory.terminalDoor ?? 1
            memory.lostSite = site
            try d.control("site-down", "\(site)")
        }, expectedAlerts: ["CashierdInstanceDown"], movesTheTerminal: true),
        Phase(name: "lost site back", action: { d, memory in try d.control("site-up", "\(memory.lostSite ?? 1)") }),
        // The seed's scale out and scale in, on the live deployment under load.
        Phase(name: "group \(groupCount) added (scale out)", action: { d, _ in try d.control("group-add", "\(groupCount)", timeoutSeconds: 180) },
              healedGroups: [groupCount]),
        Phase(name: "group \(groupCount) retired (scale in)", action: { d, _ in try d.control("group-retire", "\(groupCount)") }),
    ]
}

/// One sale as the client saw it.
struct SaleRecord: Sendable {
    var phase: Int
    var latencyMs: Double
    var paid: Bool
    var orderNo: OrderNumber?
    var amount: Int64
    var reason: String?
    /// When the sale ended, seconds after the drill's start.
    var at: Double = 0
}

/// Sales recorded by the worker threads, and the phase new sales belong to.
final class SaleLog: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    private let lock = NSLock()
    private var records: [SaleRecord] = []
    private var phaseIndex = 0
    private var stopping = false
    let started = Date()

    var phase: Int { get { lock.lock(); defer { lock.unlock() }; return phaseIndex } set { lock.lock(); phaseIndex = newValue; lock.unlock() } }
    var stopped: Bool { lock.lock(); defer { lock.unlock() }; return stopping }
    func stop() { lock.lock(); stopping = true; lock.unlock() }
    func add(_ r: SaleRecord) {
        var r = r
        r.at = Date().timeIntervalSince(started)
        lock.lock(); records.append(r); lock.unlock()
    }
    var all: [SaleRecord] { lock.lock(); defer { lock.unlock() }; return records }
}

struct DrillOptions: Sendable {
    var deploymentDirectory: String
    var script: String
    var quick = false
    var phaseSeconds: Double?
    var workers = 2
    var jsonPath: String?
    /// Where the chart of paid sales per second per group goes (SVG).
    var svgPath: String?
    /// Start a fresh deployment in the directory first (deploy-local.sh start) and stop it at the end.
    var startDeployment = false

    var secondsPerPhase: Double { phaseSeconds ?? (quick ? 5 : 20) }
    /// How long a recovery may take before the drill calls it failed (a failover is about 10 s).
    var recoveryDeadlineSeconds: Double = 60
    /// How long the alerts may take to clear after the last phase (the longest window, 10 min / 20, is 30 s).
    var alertsClearSeconds: Double = 90
}

/// Runs the drill against a running deployment and returns its report.
func runDrill(_ options: DrillOptions, say: @escaping @Sendable (String) -> Void) throws -> DrillReport {
    if options.startDeployment {
        say("starting a deployment in \(options.deploymentDirectory)")
        let started = try run(options.script, ["start", options.deploymentDirectory], timeoutSeconds: 180)
        guard started.status == 0 else {
            _ = try? run(options.script, ["stop", options.deploymentDirectory], timeoutSeconds: 120)
            throw DrillError("deploy-local.sh start failed: \(started.output)\(started.errors)")
        }
        say(started.output.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    defer {
        if options.startDeployment {
            say("stopping the deployment")
            _ = try? run(options.script, ["stop", options.deploymentDirectory], timeoutSeconds: 120)
        }
    }
    let deployment = try Deployment(directory: options.deploymentDirectory, script: options.script)
    guard deployment.doors.count == 2 else { throw DrillError("deploy.env names \(deployment.doors.count) front doors, not 2") }

    // The terminal: both front doors as its two domains, trusting the deployment's CA.
    let clientDirectory = (options.deploymentDirectory as NSString).appendingPathComponent("drill-client-\(Int(Date().timeIntervalSince1970))")
    try FileManager.default.createDirectory(atPath: clientDirectory, withIntermediateDirectories: true)
    let configuration = ClientConfiguration(domains: deployment.doors, caFile: deployment.caFile, requestTimeoutMs: 8_000,
                                            connectTimeoutMs: 1_000,
                                            probe: ProbeConfiguration(minIntervalMs: 500, backoffBaseMs: 200, backoffCeilingMs: 2_000,
                                                                      probeTimeoutMs: 2_000))
        .resolvingPaths(against: clientDirectory)
    let engine: CashierEngine
    do { engine = try CashierEngine(configuration: configuration) } catch { throw DrillError("client engine: \(error)") }
    engine.start()
    defer { engine.stop() }
    if case .failure(let e) = engine.activate(code: try deployment.activationCode(), deviceName: "drill terminal") {
        throw DrillError("activation failed: \(e)")
    }
    say("terminal activated; \(options.workers) tills selling through \(deployment.doors.joined(separator: " and "))")

    let phases = drillPhases(groupCount: deployment.groupCount, instance1: deployment.instanceURLs.first ?? "")
    let log = SaleLog()
    let memory = DrillMemory()
    let hops = HopCounter(urls: deployment.instanceURLs, caFile: deployment.caFile)
    var actionErrors: [String] = []
    // Prometheus, when the deployment runs one: its targets must all be up before the faults begin.
    let alerts = deployment.prometheusURL.map { PrometheusWatch(baseURL: $0) }
    // The watch counts from its own start; the drill's times count from the sale log's.
    var watchOffset = 0.0
    if let alerts {
        alerts.start()
        watchOffset = Date().timeIntervalSince(log.started) - alerts.elapsed
        if let down = alerts.waitForTargetsUp(seconds: 60) { actionErrors.append("Prometheus targets not up before the drill: \(down)") }
    }
    defer { alerts?.stop() }

    let workersDone = DispatchGroup()
    for till in 0..<options.workers {
        workersDone.enter()
        Thread.detachNewThread {
            sell(engine: engine, log: log, till: till)
            workersDone.leave()
        }
    }

    var hopDeltas: [[Int: Int]] = []
    var recoveries: [RecoveryResult?] = []
    var doors: [(start: Int?, end: Int?)] = []
    var refunded: Set<OrderNumber> = []
    var previous = hops.snapshot()
    var phaseStarts: [DrillChart.Phase] = []
    for (i, phase) in phases.enumerated() {
        // One order per group sold before the fault, for the recovery probe.
        var samples: [Int: OrderNumber] = [:]
        for r in log.all.reversed() where r.paid { if let n = r.orderNo, samples[n.group.value] == nil, !refunded.contains(n) { samples[n.group.value] = n } }
        log.phase = i
        let start = Date()
        phaseStarts.append(DrillChart.Phase(name: phase.name, start: start.timeIntervalSince(log.started)))
        say("phase \(i): \(phase.name)")
        memory.terminalDoor = engine.status().activeDomain.map { $0 + 1 }
        let doorAtStart = memory.terminalDoor
        do { try phase.action(deployment, memory) } catch { actionErrors.append("\(phase.name): \(error)"); say("  could not: \(error)") }
        let acted = Date()
        var recovery: RecoveryResult?
        if let probe = phase.recovery {
            let r = measureRecovery(probe, engine: engine, samples: samples, pin: deployment.supervisorPIN, caFile: deployment.caFile, since: start,
                                    deadline: options.recoveryDeadlineSeconds)
            for (what, seconds) in r.seconds.sorted(by: { $0.key < $1.key }) { say("  \(what) after \(String(format: "%.1f", seconds)) s") }
            for what in r.missing { actionErrors.append("\(phase.name): \(what) not within \(Int(options.recoveryDeadlineSeconds)) s") }
            refunded.formUnion(r.refunded)
            recovery = r
        }
        // Sales run on for the phase's time after the action (a recovery counts towards it; after one, at least
        // 2 s more, so that sales on what came back are seen; after a detection, the whole phase again).
        let waited = Date().timeIntervalSince(acted)
        if phase.recovery?.holdsTheFault == true {
            Thread.sleep(forTimeInterval: options.secondsPerPhase)
        } else {
            Thread.sleep(forTimeInterval: max(options.secondsPerPhase - waited, phase.recovery == nil ? 0 : 2))
        }
        let now = hops.snapshot()
        hopDeltas.append(HopCounter.delta(from: previous, to: now))
        recoveries.append(recovery)
        doors.append((doorAtStart, engine.status().activeDomain.map { $0 + 1 }))
        previous = now
    }
    log.stop()
    // A sale under way finishes by itself (its payment deadline bounds it).
    if workersDone.wait(timeout: .now() + 120) == .timedOut { actionErrors.append("a till did not finish its last sale in 120 s") }
    let salesEnded = Date().timeIntervalSince(log.started)

    let records = log.all
    if let path = options.svgPath {
        let sales = records.compactMap { r in r.paid ? r.orderNo.map { DrillChart.Sale(at: r.at, group: $0.group.value) } : nil }
        let chart = DrillChart.svg(sales: sales, phases: phaseStarts, groups: max(deployment.groupCount, (sales.map(\.group).max() ?? 0) + 1),
                                   duration: Date().timeIntervalSince(log.started))
        do { try chart.write(toFile: path, atomically: true, encoding: .utf8) } catch { actionErrors.append("the chart could not be written: \(error)") }
    }
    var report = DrillReport(phases: phases.enumerated().map { i, phase in
        var p = PhaseReport(phase: phase, index: i, records: records.filter { $0.phase == i }, hops: hopDeltas[i])
        p.recoverySeconds = recoveries[i]?.seconds ?? [:]
        p.terminalDoorAtStart = doors[i].start
        p.terminalDoorAtEnd = doors[i].end
        return p
    })
    // The alerts: each phase's expected ones fired between its start and the next phase's end; every alert of the
    // drill cleared once the deployment was whole again.
    if let alerts {
        for (i, phase) in phases.enumerated() {
            let from = phaseStarts[i].start - watchOffset
            let to = (i + 2 < phaseStarts.count ? phaseStarts[i + 2].start : salesEnded) - watchOffset
            let next = (i + 1 < phaseStarts.count ? phaseStarts[i + 1].start : salesEnded) - watchOffset
            report.phases[i].alertsFired = alerts.names.filter { alerts.fired($0, between: from, and: next) }.sorted()
            report.phases[i].alertsMissing = phase.expectedAlerts.filter { !alerts.fired($0, between: from, and: to) }
        }
        report.alertsStillFiring = alerts.waitUntilNothingFires(seconds: options.alertsClearSeconds)
        // When the last alert ended, after the sales stopped (0 if all had ended before).
        let lastEnd = alerts.names.compactMap { alerts.intervals($0).last?.end }.max().map { $0 + watchOffset }
        report.alertsClearedAfterSeconds = report.alertsStillFiring.isEmpty ? max(0, (lastEnd ?? salesEnded) - salesEnded) : nil
        if let down = alerts.waitForTargetsUp(seconds: 30) { actionErrors.append("Prometheus targets not up after the drill: \(down)") }
        report.prometheus = true
    }
    report.problems = actionErrors

    // Every order the client saw as paid must be paid, for the same amount, in the group its number names.
    let paid = records.filter(\.paid)
    let numbers = paid.compactMap(\.orderNo)
    report.clientPaid = numbers.count
    report.clientPaidDistinct = Set(numbers).count
    report.refundedByProbes = refunded.count
    for record in paid {
        guard let n = record.orderNo else { report.clientPaidNotInGroups.append("a paid sale without an order number"); continue }
        switch engine.order(n) {
        case .success(let view) where view.status == .paid && view.amount == record.amount && view.orderNo.group == n.group: break
        case .success(let view): report.clientPaidNotInGroups.append("\(n): \(view.status.rawValue) \(view.amount) in group \(n.group)")
        case .failure(let e): report.clientPaidNotInGroups.append("\(n): \(e.code.rawValue)")
        }
    }

    // The channel's books against the groups (what `cashierd reconcile` runs), on the shared data directory.
    let runtime = try ServiceRuntime(dataDirectory: deployment.shared, logRequests: false)
    let reconciliation = try Reconciliation.run(runtime: runtime, now: CashierService.systemClock())
    report.reconciliation = reconciliation.summary
    report.reconciliationExact = reconciliation.isExact
    report.doubleCharges = reconciliation.doubleCharges
    report.groupsPaidOrders = reconciliation.paidOrders
    return report
}

/// One till: sells one item after another until told to stop, recording each sale.
private func sell(engine: CashierEngine, log: SaleLog, till: Int) {
    var count = 0
    while !log.stopped && count < 100_000 {
        count += 1
        let phase = log.phase
        let amount = Int64.random(in: 100...9_999)
        let started = Date()
        let result = engine.sell(CreateOrderRequest(amount: amount, clientRef: nil), paymentCode: paidPaymentCode())
        let ms = Date().timeIntervalSince(started) * 1000
        switch result.outcome {
        case .paid(let view):
            log.add(SaleRecord(phase: phase, latencyMs: ms, paid: true, orderNo: view.orderNo, amount: amount))
        case .declined(let reason):
            log.add(SaleRecord(phase: phase, latencyMs: ms, paid: false, orderNo: result.orderNo, amount: amount, reason: "declined: \(reason)"))
        case .notPaid(let reversed, let reason):
            log.add(SaleRecord(phase: phase, latencyMs: ms, paid: false, orderNo: result.orderNo, amount: amount,
                               reason: "not paid\(reversed ? " (reversed)" : ""): \(reason)"))
        case .needsAttention(_, let why):
            log.add(SaleRecord(phase: phase, latencyMs: ms, paid: false, orderNo: result.orderNo, amount: amount, reason: "needs attention: \(why)"))
        case .storedOffline:
            // Only cash sales are kept offline; the drill sells by code.
            log.add(SaleRecord(phase: phase, latencyMs: ms, paid: false, orderNo: result.orderNo, amount: amount, reason: "kept offline"))
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
}

/// A sandbox payment code that pays at once: "99", 15 random digits, scenario digit 0.
func paidPaymentCode() -> String {
    var digits = "99"
    for _ in 0..<15 { digits += String(Int.random(in: 0...9)) }
    return digits + "0"
}
