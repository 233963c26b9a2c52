import Foundation
import TestSupport
import XCTest

/// The deployment files under deploy/ checked by the tools that will read them: systemd's own verifier for the
/// unit, promtool for the Prometheus configuration, the alert rules and the rules' unit tests.
final class DeploymentFilesTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    private func tool(_ name: String, in dirs: [String] = ["/usr/bin", "/bin", "/usr/local/bin"]) throws -> String {
        for dir in dirs where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") { return "\(dir)/\(name)" }
        throw XCTSkip("\(name) is not installed (scripts/install-deps.sh installs it)")
    }

    /// The unit, with ExecStart pointing at `binary` (verify insists the program exists) and `extra` added to [Service].
    private func unitCopy(in dir: TemporaryDirectory, binary: String, extra: String = "") throws -> String {
        let unit = try repositoryFile("deploy/systemd/cashierd@.service")
        let original = "ExecStart=/usr/local/bin/cashierd serve"
        XCTAssertTrue(unit.contains(original), "the unit starts /usr/local/bin/cashierd serve")
        var copy = unit.replacingOccurrences(of: original, with: "ExecStart=\(binary) serve")
        if !extra.isEmpty { copy = copy.replacingOccurrences(of: "[Service]\n", with: "[Service]\n\(extra)\n") }
        let path = dir.file("cashierd@verify.service")
        try copy.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testSystemdUnitVerifiesWithoutWarnings() throws {
        let analyze = try tool("systemd-analyze")
        let cashierd = productsDirectory() + "/cashierd"
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: cashierd), "build cashierd first: \(cashierd)")
        let dir = try TemporaryDirectory(prefix: "cashier-unit")

        let result = try runCommand(analyze, ["verify", try unitCopy(in: dir, binary: cashierd)], timeoutSeconds: 60)
        let complaints = (result.stdout + result.stderr).split(separator: "\n").filter { $0.contains("cashierd") }
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(complaints, [], "systemd-analyze verify warns about the unit")

        // The check sees warnings: the same unit with a key systemd does not know is reported.
        let bad = try runCommand(analyze, ["verify", try unitCopy(in: dir, binary: cashierd, extra: "NoSuchSetting=1")], timeoutSeconds: 60)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("NoSuchSetting"), "verify reports an unknown key: \(bad.stderr)")

        // The command line it runs is one cashierd accepts (--help parses the options, then does nothing).
        let help = try runCommand(cashierd, ["serve", "--data", dir.path, "--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
    }

    func testSystemdUnitRestartsAndIsSandboxed() throws {
        let unit = try repositoryFile("deploy/systemd/cashierd@.service")
        let settings = Dictionary(unit.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("=") }.map { line -> (String, String) in
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), String(parts[1]))
        }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(settings["ExecStart"], "/usr/local/bin/cashierd serve --data /var/lib/cashierd/%i")
        XCTAssertEqual(settings["StateDirectory"], "cashierd/%i", "the data directory is the state directory systemd makes writable")
        XCTAssertEqual(settings["Restart"], "on-failure")
        XCTAssertEqual(settings["User"], "cashierd")
        for (key, value) in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                             ("CapabilityBoundingSet", "")] {
            XCTAssertEqual(settings[key], value, key)
        }
        // Room for the default 20,000 connections of a listen address plus the 512 cashierd keeps for itself.
        XCTAssertGreaterThanOrEqual(Int(settings["LimitNOFILE"] ?? "") ?? 0, 20_512)
    }

    func testPrometheusConfigurationRulesAndAlertTests() throws {
        let promtool = try tool("promtool")
        let dir = Self.root.appendingPathComponent("deploy/prometheus").path
        for arguments in [["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
            // promtool resolves rule_files relative to the file it reads; run it from deploy/prometheus.
            let r = try runCommand("/bin/sh", ["-c", "cd '\(dir)' && exec '\(promtool)' " + arguments.joined(separator: " ")], timeoutSeconds: 60)
            XCTAssertEqual(r.status, 0, "promtool \(arguments.joined(separator: " ")): \(r.stdout)\(r.stderr)")
            XCTAssertTrue(r.stdout.contains("SUCCESS"), "promtool \(arguments.joined(separator: " ")): \(r.stdout)")
        }
        let tests = try repositoryFile("deploy/prometheus/alerts.test.yml")
        let alerts = try alertNames()
        XCTAssertGreaterThanOrEqual(alerts.count, 16)
        // What an operator must hear about the databases, from cashierd's own gauges and counters (#20).
        let rules = try repositoryFile("deploy/prometheus/alerts.yml")
        for name in ["cashierd_group_failures_total", "cashierd_group_up", "cashierd_base_up", "cashierd_database_reconnects_total"] {
            XCTAssertTrue(rules.contains(name + "{"), "an alert reads \(name)")
        }
        for alert in alerts {
            XCTAssertTrue(tests.contains("alertname: \(alert)\n        exp_alerts:\n          - exp_labels:"), "a test where \(alert) fires")
            XCTAssertTrue(tests.contains("alertname: \(alert)\n        exp_alerts: []"), "a test where \(alert) does not fire")
        }
    }

    /// Every cashierd metric an alert reads is one the service counts somewhere (not merely described).
    func testAlertsReadOnlyMetricsCashierdExports() throws {
        let rules = try repositoryFile("deploy/prometheus/alerts.yml")
        let used = Set(matches(of: "cashierd_[a-z_]+", in: rules))
        XCTAssertFalse(used.isEmpty)
        var sources = ""
        let serviceDir = Self.root.appendingPathComponent("Sources/CashierService")
        let files = FileManager.default.enumerator(atPath: serviceDir.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        for file in files { sources += try String(contentsOf: serviceDir.appendingPathComponent(file), encoding: .utf8) }
        for name in used {
            XCTAssertTrue(sources.contains("increment(\"\(name)\"") || sources.contains("gauge(\"\(name)\"")
                          || sources.contains("collect(\"\(name)\""),
                          "\(name) is not exported by cashierd")
        }
    }

    private func alertNames() throws -> [String] {
        let rules = try repositoryFile("deploy/prometheus/alerts.yml")
        return matches(of: "- alert: [A-Za-z]+", in: rules).map { String($0.dropFirst("- alert: ".count)) }
    }

    private func matches(of pattern: String, in text: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } }
    }
}
