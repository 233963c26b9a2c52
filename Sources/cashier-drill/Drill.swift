import CashierClient
import CashierCore
import CashierService
import Foundation

/// One step of the drill: what is done to the deployment at its start, and how long sales then run.
struct Phase: Sendable {
    var name: String
    /// The fault or the healing done as the phase begins.
    var action: @Sendable (Deployment) throws -> Void
    /// True for the phase with exactly one group's database down: no sale may fail in it.
    var singleGroupFault = false
    /// Groups whose database came back as this phase began: they must take orders again within it.
    var healedGroups: [Int] = []
}

/// The drill's plan: faults and heals in the order the seed's exercises list them.
func drillPhases(groupCount: Int) -> [Phase] {
    let a = 0, b = min(1, groupCount - 1)
    return [
        Phase(name: "baseline", action: { _ in }),
        Phase(name: "group \(a) database crashed", action: { try $0.control("pg-stop", "\(a)", "immediate") }, singleGroupFault: true),
        Phase(name: "group \(a) restarted", action: { try $0.control("pg-start", "\(a)") }, healedGroups: [a]),
        Phase(name: "groups \(a),\(b) databases crashed", action: {
            try $0.control("pg-stop", "\(a)", "immediate"); try $0.control("pg-stop", "\(b)", "immediate")
        }),
        Phase(name: "groups \(a),\(b) restarted", action: { try $0.control("pg-start", "\(a)"); try $0.control("pg-start", "\(b)") },
              healedGroups: [a, b]),
        Phase(name: "instance 1 killed (SIGKILL)", action: { try $0.control("instance-kill", "1") }),
        Phase(name: "instance 1 restarted", action: { try $0.control("instance-start", "1") }),
        Phase(name: "front door 1 killed (SIGKILL)", action: { try $0.control("door-kill", "1") }),
        Phase(name: "front door 1 restarted", action: { try $0.control("door-start", "1") }),
        // The seed's scale out and scale in, on the live deployment under load.
        Phase(name: "group \(groupCount) added (scale out)", action: { try $0.control("group-add", "\(groupCount)") },
              healedGroups: [groupCount]),
        Phase(name: "group \(groupCount) retired (scale in)", action: { try $0.control("group-retire", "\(groupCount)") }),
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

    let phases = drillPhases(groupCount: deployment.groupCount)
    let log = SaleLog()
    let hops = HopCounter(urls: deployment.instanceURLs, caFile: deployment.caFile)
    let workersDone = DispatchGroup()
    for till in 0..<options.workers {
        workersDone.enter()
        Thread.detachNewThread {
            sell(engine: engine, log: log, till: till)
            workersDone.leave()
        }
    }

    var hopDeltas: [[Int: Int]] = []
    var actionErrors: [String] = []
    var previous = hops.snapshot()
    var phaseStarts: [DrillChart.Phase] = []
    for (i, phase) in phases.enumerated() {
        log.phase = i
        phaseStarts.append(DrillChart.Phase(name: phase.name, start: Date().timeIntervalSince(log.started)))
        say("phase \(i): \(phase.name)")
        do { try phase.action(deployment) } catch { actionErrors.append("\(phase.name): \(error)"); say("  could not: \(error)") }
        Thread.sleep(forTimeInterval: options.secondsPerPhase)
        let now = hops.snapshot()
        hopDeltas.append(HopCounter.delta(from: previous, to: now))
        previous = now
    }
    log.stop()
    // A sale under way finishes by itself (its payment deadline bounds it).
    if workersDone.wait(timeout: .now() + 120) == .timedOut { actionErrors.append("a till did not finish its last sale in 120 s") }

    let records = log.all
    if let path = options.svgPath {
        let sales = records.compactMap { r in r.paid ? r.orderNo.map { DrillChart.Sale(at: r.at, group: $0.group.value) } : nil }
        let chart = DrillChart.svg(sales: sales, phases: phaseStarts, groups: max(deployment.groupCount, (sales.map(\.group).max() ?? 0) + 1),
                                   duration: Date().timeIntervalSince(log.started))
        do { try chart.write(toFile: path, atomically: true, encoding: .utf8) } catch { actionErrors.append("the chart could not be written: \(error)") }
    }
    var report = DrillReport(phases: phases.enumerated().map { i, phase in
        PhaseReport(phase: phase, index: i, records: records.filter { $0.phase == i }, hops: hopDeltas[i])
    })
    report.problems = actionErrors

    // Every order the client saw as paid must be paid, for the same amount, in the group its number names.
    let paid = records.filter(\.paid)
    let numbers = paid.compactMap(\.orderNo)
    report.clientPaid = numbers.count
    report.clientPaidDistinct = Set(numbers).count
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
