import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
import XCTest

/// The quick drill end to end on the replicated deployment (scripts/deploy-local.sh): base data and three order
/// groups as Patroni clusters, two sites of a haproxy front door and a cashierd instance, every part a network
/// namespace of its own, a real Prometheus; a terminal sells through both doors while primaries are killed, an
/// instance is cut off from a group, an instance is killed, a site is lost and groups are added and retired.
final class DrillTests: XCTestCase {
    private var repository: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    private func installed(_ tool: String) -> Bool {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/sbin", "/sbin"]
        return path.contains { FileManager.default.isExecutableFile(atPath: $0 + "/" + tool) }
    }

    func testQuickDrillOnTheReplicatedDeployment() throws {
        let script = repository + "/scripts/deploy-local.sh"
        let pg = try runCommand("/bin/sh", [repository + "/scripts/pg-cluster.sh", "bindir"], timeoutSeconds: 10)
        if pg.status != 0 { throw XCTSkip("PostgreSQL server binaries are not installed (scripts/install-deps.sh installs postgresql)") }
        for tool in ["haproxy", "patroni", "etcd", "prometheus", "ip"] where !installed(tool) {
            throw XCTSkip("\(tool) is not installed (scripts/install-deps.sh installs it)")
        }
        if getuid() != 0 { throw XCTSkip("the deployment's hosts are network namespaces, which take root") }
        let products = productsDirectory()
        let drill = products + "/cashier-drill"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: drill), "cashier-drill is not built in \(products)")

        let temporary = try TemporaryDirectory(prefix: "cashier-drill")
        let deployment = temporary.file("deployment")
        let reportPath = temporary.file("report.json")
        let chartPath = temporary.file("report.svg")
        let result = try runCommand(drill, ["run", "--deployment", deployment, "--start", "--quick", "--script", script, "--json", reportPath,
                                            "--svg", chartPath],
                                    environment: ["CASHIER_PRODUCTS": products], timeoutSeconds: 900)
        print(result.stdout)
        let data = try XCTUnwrap(FileManager.default.contents(atPath: reportPath), "no report; drill said: \(result.stderr.suffix(3000))")
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let phases = try XCTUnwrap(report["phases"] as? [[String: Any]])
        XCTAssertEqual(phases.count, 15)

        for phase in phases {
            let name = phase["name"] as? String ?? "?"
            XCTAssertGreaterThan(phase["succeeded"] as? Int ?? 0, 0, "no sale succeeded in phase \(name)")
            if phase["noFailures"] as? Bool == true {
                XCTAssertEqual(phase["failed"] as? Int, 0, "sales failed in \(name): \(phase["failures"] ?? "")")
            }
            XCTAssertEqual(phase["alertsMissing"] as? [String], [], "expected alerts did not fire in \(name)")
            if phase["movesTheTerminal"] as? Bool == true {
                XCTAssertNotNil(phase["terminalDoorAtEnd"] as? Int, "the terminal had no door after \(name)")
                XCTAssertNotEqual(phase["terminalDoorAtStart"] as? Int, phase["terminalDoorAtEnd"] as? Int, "the terminal did not move to the other door")
            }
            // A healed group takes new orders again in the phase right after its database came back.
            let orders = phase["ordersPerGroup"] as? [String: Int] ?? [:]
            for group in phase["healedGroups"] as? [Int] ?? [] {
                XCTAssertGreaterThan(orders[String(group)] ?? 0, 0, "group \(group) took no orders after healing (\(name))")
            }
        }
        XCTAssertEqual(phases.filter { $0["noFailures"] as? Bool == true }.count, 2, "the weekly drill and the cut-off instance")
        // Recovery times: the killed groups' orders readable and refundable again, the base data answering again.
        func recovery(_ phase: Int) -> [String: Double] { phases[phase]["recoverySeconds"] as? [String: Double] ?? [:] }
        XCTAssertEqual(Set(recovery(1).keys), ["group 0 orders readable", "group 0 orders refundable"])
        XCTAssertEqual(Set(recovery(3).keys), ["group 0 orders readable", "group 0 orders refundable",
                                               "group 1 orders readable", "group 1 orders refundable"])
        XCTAssertEqual(Set(recovery(5).keys), ["base data answers again"])
        for (what, seconds) in recovery(1).merging(recovery(3), uniquingKeysWith: max).merging(recovery(5), uniquingKeysWith: max) {
            XCTAssertLessThan(seconds, 60, what)
        }
        XCTAssertEqual(report["refundedByProbes"] as? Int, 3)
        // Prometheus watched it all: every expected alert fired (above), and all cleared afterwards.
        XCTAssertEqual(report["prometheus"] as? Bool, true)
        XCTAssertEqual(report["alertsStillFiring"] as? [String], [])
        XCTAssertEqual(report["doubleCharges"] as? Int, 0)
        XCTAssertEqual(report["reconciliationExact"] as? Bool, true, report["reconciliation"] as? String ?? "")
        XCTAssertEqual(report["clientPaidNotInGroups"] as? [String], [])
        XCTAssertEqual(report["clientPaid"] as? Int, report["clientPaidDistinct"] as? Int)
        XCTAssertEqual(report["clientPaid"] as? Int, report["groupsPaidOrders"] as? Int, "the groups hold paid orders the client never saw paid")
        XCTAssertEqual(result.status, 0, "the drill did not pass:\n\(result.stdout)\n\(result.stderr.suffix(2000))")
        // The chart: an SVG document with one series per group and the phases marked.
        let chart = try XCTUnwrap(FileManager.default.contents(atPath: chartPath), "no chart")
        let svg = SVGElements()
        let parser = XMLParser(data: chart)
        parser.delegate = svg
        XCTAssertTrue(parser.parse(), "the chart is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(svg.root, "svg")
        XCTAssertEqual(Set(svg.seriesGroups), ["0", "1", "2", "3"], "one series per group, the one added by the scale-out too")
        XCTAssertEqual(svg.seriesGroups.count, 4)
        XCTAssertEqual(svg.phaseLines, phases.count, "every phase is marked")
        // Everything the deployment started is stopped again.
        XCTAssertFalse(FileManager.default.fileExists(atPath: deployment + "/instance-1/pid"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: deployment + "/door-1/pid"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: deployment + "/prometheus/pid"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: deployment + "/hosts"), "the network namespaces are removed")
        let net = try String(contentsOfFile: deployment + "/deploy.env", encoding: .utf8).split(separator: "\n")
            .first { $0.hasPrefix("NET=") }.map { String($0.dropFirst(4)) }
        let namespaces = try runCommand("/bin/sh", ["-c", "ip netns list"], timeoutSeconds: 10).stdout
        XCTAssertFalse(namespaces.contains("csh\(try XCTUnwrap(net))-"), namespaces)
    }
}

/// What the drill's chart holds: its root element, the groups of its series and its phase marks.
final class SVGElements: NSObject, XMLParserDelegate {
    var root: String?
    var seriesGroups: [String] = []
    var phaseLines = 0

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = name }
        if name == "polyline", attributes["class"] == "series", let g = attributes["data-group"] { seriesGroups.append(g) }
        if name == "line", attributes["class"] == "phase" { phaseLines += 1 }
    }
}
