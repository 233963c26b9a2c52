import Foundation

/// What happened to the sales during one phase.
struct PhaseReport: Codable, Sendable {
    var name: String
    /// No sale may fail in this phase.
    var noFailures: Bool
    var healedGroups: [Int]
    var attempted: Int
    var succeeded: Int
    var failed: Int
    /// Paid orders per group tag (from the order numbers).
    var ordersPerGroup: [Int: Int]
    /// Hops away from each group, from the instances' `cashierd_group_hops_total`.
    var hopsPerGroup: [Int: Int]
    var p50Ms: Double?
    var p99Ms: Double?
    /// Up to five reasons of failed sales.
    var failures: [String]
    /// What came back after the phase's fault, seconds after it (orders of a group readable, refundable; the base).
    var recoverySeconds: [String: Double] = [:]
    /// Alerts Prometheus had firing during the phase, and those expected that did not fire by the next one's end.
    var alertsFired: [String] = []
    var alertsMissing: [String] = []
    /// The front door (1, 2) the terminal used at the phase's start and end; and whether it had to move.
    var terminalDoorAtStart: Int?
    var terminalDoorAtEnd: Int?
    var movesTheTerminal: Bool

    init(phase: Phase, index: Int, records: [SaleRecord], hops: [Int: Int]) {
        name = phase.name
        noFailures = phase.noFailures
        healedGroups = phase.healedGroups
        movesTheTerminal = phase.movesTheTerminal
        attempted = records.count
        succeeded = records.filter(\.paid).count
        failed = attempted - succeeded
        var groups: [Int: Int] = [:]
        for r in records where r.paid { if let n = r.orderNo { groups[n.group.value, default: 0] += 1 } }
        ordersPerGroup = groups
        hopsPerGroup = hops
        let latencies = records.map(\.latencyMs).sorted()
        p50Ms = percentile(latencies, 0.50)
        p99Ms = percentile(latencies, 0.99)
        failures = Array(records.filter { !$0.paid }.compactMap(\.reason).prefix(5))
    }

    /// True when every group healed at the start of this phase took at least one order in it.
    var healedGroupsTookOrders: Bool { healedGroups.allSatisfy { (ordersPerGroup[$0] ?? 0) > 0 } }
    /// True unless the terminal had to move to the other front door and did not.
    var terminalMovedAsExpected: Bool { !movesTheTerminal || (terminalDoorAtEnd != nil && terminalDoorAtEnd != terminalDoorAtStart) }
}

/// The nearest-rank percentile of sorted values; nil for none.
func percentile(_ sorted: [Double], _ p: Double) -> Double? {
    guard !sorted.isEmpty else { return nil }
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count, max(1, rank)) - 1]
}

/// The whole drill: phases, the client's view checked against the groups, and the reconciliation.
struct DrillReport: Codable, Sendable {
    var phases: [PhaseReport]
    var problems: [String] = []
    var clientPaid = 0
    var clientPaidDistinct = 0
    var clientPaidNotInGroups: [String] = []
    var groupsPaidOrders = 0
    var doubleCharges = 0
    var reconciliationExact = false
    var reconciliation = ""
    /// Orders the recovery probes refunded one cent of.
    var refundedByProbes = 0
    /// Whether a Prometheus watched the drill; alerts still firing once it was over, and how long they took to clear.
    var prometheus = false
    var alertsStillFiring: [String] = []
    var alertsClearedAfterSeconds: Double?

    var attempted: Int { phases.reduce(0) { $0 + $1.attempted } }
    var succeeded: Int { phases.reduce(0) { $0 + $1.succeeded } }
    var failed: Int { phases.reduce(0) { $0 + $1.failed } }
    var noFailurePhaseFailures: Int { phases.filter(\.noFailures).reduce(0) { $0 + $1.failed } }
    var healedGroupsTookOrders: Bool { phases.allSatisfy(\.healedGroupsTookOrders) }
    var terminalMovedAsExpected: Bool { phases.allSatisfy(\.terminalMovedAsExpected) }
    var alertsAsExpected: Bool { phases.allSatisfy(\.alertsMissing.isEmpty) && alertsStillFiring.isEmpty }

    /// The seed's bar for a clean drill.
    var passed: Bool {
        problems.isEmpty && noFailurePhaseFailures == 0 && doubleCharges == 0 && reconciliationExact
            && clientPaidNotInGroups.isEmpty && clientPaid == clientPaidDistinct && clientPaid == succeeded
            && healedGroupsTookOrders && terminalMovedAsExpected && alertsAsExpected && succeeded > 0
    }

    var text: String {
        func ms(_ v: Double?) -> String { v.map { String(format: "%.0f", $0) } ?? "-" }
        func groups(_ d: [Int: Int]) -> String {
            d.isEmpty ? "-" : d.sorted { $0.key < $1.key }.map { "g\($0.key):\($0.value)" }.joined(separator: " ")
        }
        var lines = ["DRILL REPORT", ""]
        let header = "phase".padding(toLength: 34, withPad: " ", startingAt: 0)
            + "tried   ok fail  p50ms  p99ms  paid orders per group           hops away from group"
        lines.append(header)
        for p in phases {
            let cells = [p.attempted, p.succeeded, p.failed].map { String($0).leftPadded(4) }.joined(separator: " ")
            lines.append(p.name.padding(toLength: 33, withPad: " ", startingAt: 0) + " " + cells + " "
                         + ms(p.p50Ms).leftPadded(6) + " " + ms(p.p99Ms).leftPadded(6) + "  "
                         + groups(p.ordersPerGroup).padding(toLength: 31, withPad: " ", startingAt: 0) + " " + groups(p.hopsPerGroup))
            for f in p.failures { lines.append("    failed: \(f)") }
            for (what, seconds) in p.recoverySeconds.sorted(by: { $0.key < $1.key }) {
                lines.append("    timed: \(what) after \(String(format: "%.1f", seconds)) s")
            }
            if p.movesTheTerminal {
                let door = { (d: Int?) in d.map { "door \($0)" } ?? "none" }
                lines.append("    terminal: \(door(p.terminalDoorAtStart)) → \(door(p.terminalDoorAtEnd))\(p.terminalMovedAsExpected ? "" : " — DID NOT MOVE")")
            }
            if !p.alertsFired.isEmpty { lines.append("    alerts: \(p.alertsFired.joined(separator: ", "))") }
            if !p.alertsMissing.isEmpty { lines.append("    ALERTS THAT DID NOT FIRE: \(p.alertsMissing.joined(separator: ", "))") }
        }
        lines += [
            "",
            "sales attempted \(attempted), succeeded \(succeeded), failed \(failed)",
            "failed where none may (one group's primary lost, an instance cut off from a group): \(noFailurePhaseFailures)",
            "healed groups took orders again: \(healedGroupsTookOrders ? "yes" : "NO")",
            "client saw \(clientPaid) paid orders (\(clientPaidDistinct) distinct); paid in their groups: \(clientPaid - clientPaidNotInGroups.count)",
        ]
        lines += clientPaidNotInGroups.prefix(10).map { "  not paid in its group: \($0)" }
        if refundedByProbes > 0 { lines.append("orders given a one-cent refund by the recovery probes: \(refundedByProbes)") }
        if prometheus {
            lines.append(alertsStillFiring.isEmpty
                ? "alerts: all cleared \(alertsClearedAfterSeconds.map { String(format: "%.0f", $0) } ?? "?") s after the sales stopped"
                : "alerts STILL FIRING after the drill: \(alertsStillFiring.joined(separator: ", "))")
        }
        lines += problems.map { "problem: \($0)" }
        lines += ["", "reconciliation (cashierd reconcile):"] + reconciliation.split(separator: "\n").map { "  " + $0 }
        lines += ["", passed ? "DRILL PASSED" : "DRILL FAILED"]
        return lines.joined(separator: "\n")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
