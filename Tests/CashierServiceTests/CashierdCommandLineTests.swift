import CashierService
import Foundation
import TestSupport
import XCTest

/// `cashierd`'s command line as its table defines it, on the real binary: help that does nothing else,
/// exit 2 for every mistake before anything is done, the `--json` outputs, the completion script, the docs.
final class CashierdCommandLineTests: XCTestCase {
    var directory: TemporaryDirectory!
    /// Where `cashierd` would put its data when no `--data` is given ($CASHIERD_DATA): nothing may appear there.
    var defaultData: String { directory.file("default-data") }

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(prefix: "cashierd-cli")
    }

    private func cashierd(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
        try runCommand(Cashierd.binary, arguments, environment: ["CASHIERD_DATA": defaultData], timeoutSeconds: timeout)
    }

    private func assertNothingCreated(_ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(FileManager.default.fileExists(atPath: defaultData), "\(what) created the data directory", file: file, line: line)
    }

    /// The commands `cashierd --help` lists (their first words, up to the options and arguments).
    private func listedCommands() throws -> [[String]] {
        let usage = try cashierd(["--help"])
        XCTAssertEqual(usage.status, 0)
        let section = usage.stdout.components(separatedBy: "\ncommands:\n")[1].components(separatedBy: "\n\n")[0]
        return section.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }.map { line in
            // The synopsis, up to the two spaces before the summary.
            let synopsis = line.dropFirst(2).components(separatedBy: "  ")[0]
            return Array(synopsis.split(separator: " ").prefix { !$0.hasPrefix("[") && !$0.hasPrefix("-") && $0.uppercased() != $0 }.map(String.init))
        }
    }

    func testInitAndServeHelpDoNothingAndEveryCommandHasHelp() throws {
        let initHelp = try cashierd(["init", "--help"])
        XCTAssertEqual(initHelp.status, 0, initHelp.stderr)
        XCTAssertTrue(initHelp.stdout.hasPrefix("usage: cashierd init "), initHelp.stdout)
        XCTAssertTrue(initHelp.stdout.contains("--groups N") && initHelp.stdout.contains("(1 to 100; default 4)"), initHelp.stdout)
        assertNothingCreated("init --help")

        // serve --help must print and exit at once, not serve (the time bound would stop a server).
        let started = Date()
        let serveHelp = try cashierd(["serve", "--help"], timeout: 10)
        XCTAssertEqual(serveHelp.status, 0, serveHelp.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        XCTAssertFalse(serveHelp.stdout.contains("listening on https://"), serveHelp.stdout)
        XCTAssertTrue(serveHelp.stdout.hasPrefix("usage: cashierd serve "), serveHelp.stdout)

        let commands = try listedCommands()
        XCTAssertEqual(commands.map { $0.joined(separator: " ") },
                       ["init", "serve", "merchant add", "merchant list", "merchant orders", "store add", "store set", "store list",
                        "store channel set", "store channel list", "store channel remove", "staff add",
                        "staff list", "activation-code", "device list", "device revoke", "groups", "groups add", "groups retire", "groups share",
                        "channel sign", "channel check", "reconcile", "sandbox serve", "help", "completion"])
        for command in commands + [["merchant"], ["device"]] {
            let r = try cashierd(command + ["-h"], timeout: 10)
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stdout.hasPrefix("usage: cashierd \(command.joined(separator: " "))"), "\(command): \(r.stdout)")
            XCTAssertEqual(r.stderr, "")
        }
        XCTAssertEqual(try cashierd(["help", "groups", "add"]).stdout, try cashierd(["groups", "add", "--help"]).stdout)
        assertNothingCreated("the commands' help")
    }

    func testEveryMistakeIsExitCode2BeforeAnythingIsDone() throws {
        let data = directory.file("data")
        let made = try cashierd(["init", "--data", data, "--groups", "1"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let cases: [([String], String, String)] = [
            (["serve", "--data", data, "--lisen", "127.0.0.1:9"], "unknown option --lisen for cashierd serve (did you mean --listen?)", "usage: cashierd serve"),
            (["init", "--bogus", "1"], "unknown option --bogus for cashierd init", "usage: cashierd init"),
            (["init", "--groups"], "--groups needs a value (--groups N)", "usage: cashierd init"),
            (["init", "--groups", "0"], "--groups takes 1 to 100, not 0", "usage: cashierd init"),
            (["init", "--instance", "x"], "--instance takes a whole number, not x", "usage: cashierd init"),
            (["init", "--listen", "nowhere"], "--listen takes HOST:PORT, e.g. 127.0.0.1:8443, not nowhere", "usage: cashierd init"),
            (["serve", "--data", data, "--instance", "1000"], "--instance takes 0 to 999, not 1000", "usage: cashierd serve"),
            (["activation-code", "--data", data, "--store", "S1", "--ttl", "abc"], "--ttl takes a whole number, not abc", "usage: cashierd activation-code"),
            (["activation-code", "--data", data], "cashierd activation-code needs --store ID", "usage: cashierd activation-code"),
            (["activation-code", "--data", data, "--store", "S1", "--store", "S2"], "--store is given twice; it takes one value", "usage: cashierd activation-code"),
            (["staff", "add", "--data", data, "--store", "S", "--name", "N", "--role", "boss", "--pin", "1234"],
             "--role takes cashier or supervisor, not boss", "usage: cashierd staff add"),
            (["devices", "list"], "unknown command devices (did you mean device?)", "usage: cashierd <command>"),
            (["device", "--data", data], "cashierd device needs a command: list, revoke", "usage: cashierd device <command>"),
            (["device", "revoke", "--data", data], "cashierd device revoke needs DEVICE_ID", "usage: cashierd device revoke DEVICE_ID"),
            (["store", "list", "--data", data, "--jsn"], "unknown option --jsn for cashierd store list (did you mean --json?)", "usage: cashierd store list"),
            (["groups", "add", "--data", data], "cashierd groups add needs --tag N", "usage: cashierd groups add"),
            (["groups", "retire", "--data", data, "--tag", "100"], "--tag takes 0 to 99, not 100", "usage: cashierd groups retire"),
            (["reconcile", "--data", data, "now"], "unexpected argument now for cashierd reconcile", "usage: cashierd reconcile"),
        ]
        for (arguments, message, usage) in cases {
            let r = try cashierd(arguments, timeout: 10)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stdout) \(r.stderr)")
            let lines = r.stderr.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.first, "cashierd: " + message, "\(arguments)")
            XCTAssertTrue(lines.dropFirst().first?.hasPrefix(usage) == true, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(arguments) did something")
        }
        assertNothingCreated("a refused init")
        // The configured groups are as init made them: the refused `groups` commands changed nothing.
        XCTAssertEqual(try cashierd(["groups", "--data", data]).stdout.split(separator: "\n").count, 1)
        // A failure of a command line that is right is still 1.
        XCTAssertEqual(try cashierd(["activation-code", "--data", data, "--store", "SNOSUCHSTORE"]).status, 1)
    }

    func testInitStoreListAndDeviceListPrintOneJSONDocument() throws {
        let data = directory.file("json")
        let made = try cashierd(["init", "--data", data, "--groups", "2", "--listen", "127.0.0.1:0", "--demo", "--json"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [String: Any], made.stdout)
        XCTAssertEqual(Set(report.keys), ["data_directory", "instance", "groups", "listen", "ca_file", "demo"])
        XCTAssertEqual(report["data_directory"] as? String, data)
        XCTAssertEqual(report["groups"] as? [Int], [0, 1])
        XCTAssertEqual(report["instance"] as? Int, 1)
        XCTAssertEqual(report["listen"] as? [String], ["https://127.0.0.1:0"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: report["ca_file"] as? String ?? ""))
        let demo = try XCTUnwrap(report["demo"] as? [String: Any])
        XCTAssertEqual(Set(demo.keys), ["merchant_id", "store_id", "store_name", "currency", "supervisor_pin", "cashier_pin",
                                        "activation_code", "activation_code_expires_at"])
        XCTAssertEqual(demo["supervisor_pin"] as? String, Cashierd.supervisorPIN)
        XCTAssertEqual(demo["currency"] as? String, "CNY")
        XCTAssertNotNil((demo["activation_code"] as? String)?.range(of: "^[A-Z0-9]{4}-[A-Z0-9]{4}$", options: .regularExpression))
        XCTAssertGreaterThan(demo["activation_code_expires_at"] as? Int ?? 0, Int(Date().timeIntervalSince1970 * 1000))

        let bare = try cashierd(["init", "--data", directory.file("bare"), "--groups", "1", "--json"])
        let bareReport = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bare.stdout.utf8)) as? [String: Any], bare.stdout)
        XCTAssertTrue(bareReport["demo"] is NSNull, "the key is there, null, without --demo")

        let stores = try cashierd(["store", "list", "--data", data, "--json"])
        XCTAssertEqual(stores.status, 0, stores.stderr)
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stores.stdout.utf8)) as? [String: Any], stores.stdout)
        let store = try XCTUnwrap((list["stores"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(store.keys), ["id", "merchant_id", "name", "currency", "created_at", "time_zone"])
        XCTAssertEqual(store["id"] as? String, demo["store_id"] as? String)
        XCTAssertEqual(store["merchant_id"] as? String, demo["merchant_id"] as? String)
        XCTAssertEqual(store["name"] as? String, "Demo Store")

        let none = try cashierd(["device", "list", "--data", data, "--json"])
        let noDevices = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [String: Any], none.stdout)
        XCTAssertEqual((noDevices["devices"] as? [Any])?.count, 0)
    }

    func testDeviceListJSONShowsRevocationAndNeverTheKey() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let kept = try service.activateTerminal()
        let stolen = try service.activateTerminal()
        XCTAssertEqual(try service.admin(["device", "revoke", stolen.deviceId]).status, 0)
        let r = try service.admin(["device", "list", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let devices = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["devices"] as? [[String: Any]])
        XCTAssertEqual(devices.count, 2)
        for d in devices { XCTAssertEqual(Set(d.keys), ["id", "store_id", "name", "status", "activated_at", "revoked_at"]) }
        let byID = Dictionary(uniqueKeysWithValues: devices.map { ($0["id"] as? String ?? "", $0) })
        XCTAssertEqual(byID[kept.deviceId]?["status"] as? String, "active")
        XCTAssertTrue(byID[kept.deviceId]?["revoked_at"] is NSNull)
        XCTAssertEqual(byID[stolen.deviceId]?["status"] as? String, "revoked")
        XCTAssertNotNil(byID[stolen.deviceId]?["revoked_at"] as? Int)
        XCTAssertEqual(byID[kept.deviceId]?["store_id"] as? String, service.storeID)
        for secret in [kept.deviceSecret, stolen.deviceSecret] { XCTAssertFalse(r.stdout.contains(secret), "a device key was printed") }
    }

    func testTheBashCompletionCompletesCommandsOptionsAndValues() throws {
        let r = try cashierd(["completion", "bash"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let script = r.stdout
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashierd", "dev"]), ["device"])
        XCTAssertEqual(Set(try bashCompletion(script: script, words: ["cashierd", "device", ""])), ["list", "revoke"])
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashierd", "serve", "--li"]), ["--listen"])
        XCTAssertEqual(Set(try bashCompletion(script: script, words: ["cashierd", "staff", "add", "--role", ""])), ["cashier", "supervisor"])
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashierd", "--data", "/tmp/x", "groups", "re"]), ["retire"])
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashierd", "init", "--de"]), ["--demo"])
        assertNothingCreated("completion bash")
    }

    /// docs/OPERATIONS.md's command block is `cashierd --help` word for word, so the docs name every command
    /// and option the table has, and nothing else.
    func testTheOperationsDocsShowTheCommandsAsTheTableDefinesThem() throws {
        let usage = try cashierd(["--help"]).stdout.trimmingCharacters(in: .newlines)
        let documented = try XCTUnwrap(fencedBlock(after: "<!-- cashierd --help -->", in: try repositoryFile("docs/OPERATIONS.md")),
                                       "docs/OPERATIONS.md has no block after <!-- cashierd --help -->")
        XCTAssertEqual(documented, usage, "paste `cashierd --help` into docs/OPERATIONS.md")
    }
}
