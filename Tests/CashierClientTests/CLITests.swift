import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// The `cashier` binary against a real `cashierd` on two loopback HTTPS domains.
final class CLITests: XCTestCase {
    var service: Cashierd!
    var harness: ClientHarness!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        harness = try ClientHarness(domains: service.urls, caFile: service.caFile)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testActivationStoresAnOwnerOnlyKeystoreAndStatusShowsBothDomains() throws {
        let before = try harness.runJSON(["pay", "--amount", "1.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(before.status, 8, "not activated yet")
        XCTAssertEqual(before.json["code"] as? String, "NOT_ACTIVATED")

        let code = try service.newActivationCode()
        let r = try harness.runJSON(["activate", "--code", code])
        XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
        XCTAssertNotNil(r.json["device_id"] as? String)
        let keystore = harness.configuration.resolvingPaths(against: (harness.configPath as NSString).deletingLastPathComponent).keystorePath
        let mode = (try FileManager.default.attributesOfItem(atPath: keystore)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o600)

        let status = try harness.runJSON(["status"])
        XCTAssertEqual(status.status, 0, status.raw.stdout + status.raw.stderr)
        let domains = status.json["domains"] as? [[String: Any]] ?? []
        XCTAssertEqual(domains.count, 2)
        XCTAssertTrue(domains.contains { $0["state"] as? String == "active" }, "\(domains)")
        XCTAssertEqual(status.json["device_id"] as? String, r.json["device_id"] as? String)

        // A used code is refused by the service.
        XCTAssertEqual(try harness.run(["activate", "--code", code]).status, 6)

        // A keystore others can read stops the client, saying why.
        chmod(keystore, 0o644)
        let insecure = try harness.runJSON(["status"])
        XCTAssertEqual(insecure.status, 8)
        XCTAssertEqual(insecure.json["code"] as? String, "KEYSTORE_INSECURE")
        XCTAssertTrue((insecure.json["detail"] as? String ?? "").contains("chmod 600"))
    }

    func testBadConfigurationIsRefusedClearly() throws {
        try Data("{\"domains\": [\"https://only-one\"]}".utf8).write(to: URL(fileURLWithPath: harness.configPath))
        let r = try harness.runJSON(["status"])
        XCTAssertEqual(r.status, 8)
        XCTAssertEqual(r.json["code"] as? String, "CONFIG_INVALID")
        XCTAssertTrue((r.json["detail"] as? String ?? "").contains("at least two"))
    }

    func testPayWithEverySandboxOutcome() throws {
        try harness.activate(service)
        let cases: [(SandboxScenario, Int32, String)] = [
            (.paid, 0, "paid"), (.userConfirms, 0, "paid"), (.userNeverConfirms, 4, "not_paid"),
            (.insufficientFunds, 3, "declined"), (.unknownButPaid, 0, "paid"), (.slow, 0, "paid"),
            (.unknownNotPaid, 3, "declined"),
        ]
        var paid = 0
        for (scenario, exit, outcome) in cases {
            let r = try harness.runJSON(["pay", "--amount", "2.50", "--code", paymentCode(scenario)])
            XCTAssertEqual(r.status, exit, "\(scenario): \(r.raw.stdout) \(r.raw.stderr)")
            XCTAssertEqual(r.json["outcome"] as? String, outcome, "\(scenario)")
            if outcome == "paid" {
                paid += 1
                let order = r.json["order"] as? [String: Any]
                XCTAssertEqual(order?["status"] as? String, "paid")
                XCTAssertEqual(order?["amount"] as? Int, 250)
            }
            if scenario == .userNeverConfirms { XCTAssertEqual(r.json["reversed"] as? Bool, true) }
        }
        // Human output and bad input.
        let human = try harness.run(["pay", "--amount", "3.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(human.status, 0)
        XCTAssertTrue(human.stdout.contains("PAID 3.00"), human.stdout)
        paid += 1
        XCTAssertEqual(try harness.run(["pay", "--amount", "abc", "--code", paymentCode(.paid)]).status, 2)
        XCTAssertEqual(try harness.run(["pay", "--amount", "1.00"]).status, 2)
        XCTAssertEqual(try harness.run(["pay", "--amount", "1.00", "--code", "12345"]).status, 3)

        let list = try harness.runJSON(["orders", "--limit", "3"])
        XCTAssertEqual(list.status, 0)
        XCTAssertEqual((list.json["orders"] as? [Any])?.count, 3)
        XCTAssertNotNil(list.json["next_cursor"] as? String)
        let reconcile = try service.admin(["reconcile"])
        XCTAssertTrue(reconcile.stdout.contains("paid orders in groups: \(paid); paid at channel: \(paid)"), reconcile.stdout)
    }

    /// Staff sign in with their PIN (any role), checked by the service; the terminal keeps who is signed in
    /// (never the PIN) until sign-out, and wrong PINs lock the terminal's PINs as for refunds.
    func testStaffSignInSignOutAndLockOut() throws {
        try harness.activate(service)
        let cashier = try harness.runJSON(["sign-in", "--pin", Cashierd.cashierPIN])
        XCTAssertEqual(cashier.status, 0, cashier.raw.stdout + cashier.raw.stderr)
        let staff = try XCTUnwrap(cashier.json["staff"] as? [String: Any])
        XCTAssertEqual(staff["role"] as? String, "cashier")
        XCTAssertNotNil(staff["staff_id"] as? String)
        let status = try harness.runJSON(["status"])
        XCTAssertEqual((status.json["staff"] as? [String: Any])?["staff_id"] as? String, staff["staff_id"] as? String, status.raw.stdout)
        let journalPath = ((harness.configPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(harness.configuration.journalPath)
        let journal = String(decoding: try Data(contentsOf: URL(fileURLWithPath: journalPath)), as: UTF8.self)
        XCTAssertTrue(journal.contains(staff["staff_id"] as? String ?? "?"), "the journal keeps who is signed in")
        // As a value: the bare digits turn up by chance inside the order numbers the journal keeps.
        XCTAssertFalse(journal.contains("\"\(Cashierd.cashierPIN)\"") || journal.contains("\"pin\""), "the journal never holds a PIN")

        let out = try harness.run(["sign-out"])
        XCTAssertEqual(out.status, 0)
        XCTAssertTrue(out.stdout.contains("signed out: "), out.stdout)
        XCTAssertNil(try harness.runJSON(["status"]).json["staff"] as? [String: Any])
        XCTAssertTrue(try harness.run(["sign-out"]).stdout.contains("nobody was signed in"))

        XCTAssertEqual(try harness.run(["sign-in", "--pin", "12"]).status, 2, "not a PIN at all: bad input, not counted")
        for _ in 0..<5 {
            let wrong = try harness.runJSON(["sign-in", "--pin", "0000"])
            XCTAssertEqual(wrong.status, 6)
            XCTAssertEqual(wrong.json["code"] as? String, "PIN_INVALID")
        }
        let locked = try harness.runJSON(["sign-in", "--pin", Cashierd.supervisorPIN])
        XCTAssertEqual(locked.json["code"] as? String, "PIN_LOCKED", "five wrong PINs lock every PIN from the terminal")

        // Headless: the same commands, on another terminal (this one's PINs are locked).
        let other = try ClientHarness(domains: service.urls, caFile: service.caFile)
        try other.activate(service)
        let session = try other.run(["--headless"], stdin: #"{"cmd":"sign_in","id":"i","pin":"\#(Cashierd.supervisorPIN)"}"# + "\n"
                                      + #"{"cmd":"status","id":"s"}"# + "\n" + #"{"cmd":"sign_out","id":"o"}"# + "\n")
        XCTAssertTrue(session.stdout.contains(#""role":"supervisor""#), session.stdout)
        XCTAssertTrue(session.stdout.contains(#""signed_out":{"#), session.stdout)
    }

    func testRefundRetriedWithTheSameReferenceRefundsOnce() throws {
        try harness.activate(service)
        let sale = try harness.runJSON(["pay", "--amount", "10.00", "--code", paymentCode(.paid)])
        let order = try XCTUnwrap(sale.json["order_no"] as? String)

        let wrong = try harness.runJSON(["refund", "--order", order, "--amount", "1.00", "--pin", "0000"])
        XCTAssertEqual(wrong.status, 6)
        XCTAssertEqual(wrong.json["code"] as? String, "PIN_INVALID")

        let ref = "test-ref-\(UUID().uuidString.prefix(8))"
        for _ in 0..<2 {
            let r = try harness.runJSON(["refund", "--order", order, "--amount", "4.00", "--pin", Cashierd.supervisorPIN, "--ref", ref])
            XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
            XCTAssertEqual((r.json["refund"] as? [String: Any])?["refund_ref"] as? String, ref)
        }
        let after = try harness.runJSON(["order", order])
        XCTAssertEqual((after.json["order"] as? [String: Any])?["refunded_amount"] as? Int, 400, "refunded once, not twice")
        let tooMuch = try harness.runJSON(["refund", "--order", order, "--amount", "7.00", "--pin", Cashierd.supervisorPIN])
        XCTAssertEqual(tooMuch.status, 6)
        XCTAssertEqual(tooMuch.json["code"] as? String, "REFUND_EXCEEDS_PAID")
        XCTAssertEqual(try harness.run(["refund", "--order", "123", "--amount", "1", "--pin", "1"]).status, 2)
    }

    func testHeadlessSessionReportsProbesSalePhasesAndResults() throws {
        try harness.activate(service)
        let lines = [
            #"{"cmd":"status","id":"s"}"#,
            #"{"cmd":"pay","id":"p1","amount":"1.23","code":"\#(paymentCode(.userConfirms))"}"#,
            #"{"cmd":"pay","id":"p2","amount_minor":99,"code":"\#(paymentCode(.insufficientFunds))"}"#,
            #"{"cmd":"orders","id":"o","limit":2}"#,
            #"{"cmd":"bogus","id":"b"}"#,
            "not json",
        ]
        let r = try harness.run(["--headless"], stdin: lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let events = r.stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        func result(_ id: String) -> [String: Any]? { events.first { $0["id"] as? String == id && $0["event"] as? String != nil && ($0["event"] as? String == "result" || $0["event"] as? String == "error") } }
        XCTAssertEqual(events.first?["event"] as? String, "ready")
        XCTAssertEqual(events.last?["event"] as? String, "bye")
        XCTAssertTrue(events.contains { $0["event"] as? String == "probe" && $0["ok"] as? Bool == true })
        XCTAssertTrue(events.contains { $0["event"] as? String == "domain_switch" })
        XCTAssertEqual(result("p1")?["outcome"] as? String, "paid")
        XCTAssertEqual(result("p2")?["outcome"] as? String, "declined")
        XCTAssertEqual(result("p2")?["exit_code"] as? Int, 3)
        XCTAssertEqual((result("o")?["orders"] as? [Any])?.count, 2)
        XCTAssertEqual(result("b")?["code"] as? String, "BAD_INPUT")
        XCTAssertNotNil((result("s")?["status"] as? [String: Any])?["active_domain"] as? Int)
        let sale = result("p1")?["sale"] as? String
        let phases = events.filter { $0["event"] as? String == "sale" && $0["sale"] as? String == sale }.compactMap { $0["phase"] as? String }
        XCTAssertEqual(phases.first, "paying", "one call: the sale is paying on a number the terminal holds from the start")
        XCTAssertFalse(phases.contains("creating"), "\(phases)")
        XCTAssertTrue(phases.contains("paying") && phases.contains("waiting_for_customer"), "\(phases)")
        XCTAssertEqual(phases.last, "finished")
    }

    func testResumesASaleInterruptedWhileTheCustomerConfirms() throws {
        try harness.activate(service)
        let child = try ChildProcess(ClientHarness.binary, ["pay", "--amount", "5.00", "--code", paymentCode(.userNeverConfirms)],
                                     environment: harness.environment)
        let line = try XCTUnwrap(child.waitForLine(containing: "waiting for the customer", timeoutSeconds: 20), child.output.joined(separator: "\n"))
        child.stop(signal: SIGKILL)
        let order = try XCTUnwrap(line.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        XCTAssertEqual((try harness.runJSON(["order", order]).json["order"] as? [String: Any])?["status"] as? String, "paying")

        let status = try harness.runJSON(["status"])
        XCTAssertEqual(status.json["unfinished_sales"] as? Int, 1)
        let resumed = try harness.runJSON(["resume"])
        XCTAssertEqual(resumed.status, 0, resumed.raw.stdout + resumed.raw.stderr)
        let outcomes = resumed.json["resumed"] as? [[String: Any]] ?? []
        XCTAssertEqual(outcomes.first?["outcome"] as? String, "not_paid")
        XCTAssertEqual((try harness.runJSON(["order", order]).json["order"] as? [String: Any])?["status"] as? String, "reversed")
        XCTAssertEqual(try harness.runJSON(["status"]).json["unfinished_sales"] as? Int, 0)
    }
}

/// `cashier`'s command line as its table defines it: help for every command, exit 2 for every mistake,
/// the completion script and the docs. None of these needs a service: the configuration given is not even
/// valid, so a command that went past its command line would stop with exit 8.
final class CommandLineCLITests: XCTestCase {
    var home: TemporaryDirectory!
    var environment: [String: String] = [:]

    override func setUpWithError() throws {
        home = try TemporaryDirectory(prefix: "cashier-cli")
        let config = home.file("config.json")
        try Data("{ not a configuration".utf8).write(to: URL(fileURLWithPath: config))
        environment = ["HOME": home.path, "XDG_CONFIG_HOME": home.file("xdg"), "CASHIER_CONFIG": config]
    }

    private func cashier(_ arguments: [String]) throws -> CommandResult {
        try runCommand(ClientHarness.binary, arguments, environment: environment, timeoutSeconds: 20)
    }

    /// The commands `cashier --help` lists (their first words, up to the options and arguments).
    private func listedCommands() throws -> [[String]] {
        let usage = try cashier(["--help"])
        XCTAssertEqual(usage.status, 0)
        let section = usage.stdout.components(separatedBy: "\ncommands:\n")[1].components(separatedBy: "\n\n")[0]
        return section.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }.map { line in
            // The synopsis, up to the two spaces before the summary.
            let synopsis = line.dropFirst(2).components(separatedBy: "  ")[0]
            return Array(synopsis.split(separator: " ").prefix { !$0.hasPrefix("[") && !$0.hasPrefix("-") && $0.uppercased() != $0 }.map(String.init))
        }
    }

    func testEveryCommandsHelpIsPrintedAndNothingElseIsDone() throws {
        let commands = try listedCommands()
        XCTAssertEqual(commands.map { $0.joined(separator: " ") },
                       ["activate", "status", "pay", "cash", "refund", "orders", "order", "sign-in", "sign-out", "shift-open", "shift-report", "shift-close", "receipt", "resume", "rotate-key", "tui", "help", "completion"])
        // Both ways of giving an activation code (or an order number) are still taken: they meet the bad configuration.
        XCTAssertEqual(try cashier(["activate", "AAAA-BBBB"]).status, 8)
        XCTAssertEqual(try cashier(["activate", "--code", "AAAA-BBBB"]).status, 8)
        for command in commands {
            for flag in ["--help", "-h"] {
                let r = try cashier(command + [flag])
                XCTAssertEqual(r.status, 0, "\(command) \(flag): \(r.stderr)")
                XCTAssertTrue(r.stdout.hasPrefix("usage: cashier \(command.joined(separator: " "))"), r.stdout)
                XCTAssertEqual(r.stderr, "", "\(command) \(flag) went further than its help")
            }
        }
        let pay = try cashier(["pay", "--help"]).stdout
        XCTAssertEqual(try cashier(["help", "pay"]).stdout, pay)
        for text in ["--amount AMOUNT", "--code PAYCODE", "the customer's payment code (required)", "--items JSON", "--json", "--config PATH"] {
            XCTAssertTrue(pay.contains(text), "pay's help lacks \(text):\n\(pay)")
        }
        // --help wins over the rest of the line, which is neither checked nor acted on.
        XCTAssertEqual(try cashier(["pay", "--amount", "abc", "--help"]).stdout, pay)
        let top = try cashier(["--help"])
        XCTAssertEqual(try cashier(["help"]).stdout, top.stdout)
        XCTAssertTrue(top.stdout.contains("cashier [--headless] [--script KEYS] [--dump-screen] [--lang en|zh]"), top.stdout)
    }

    func testEveryMistakeIsExitCode2WithTheProblemAndTheUsageOnStandardError() throws {
        let cases: [([String], String, String)] = [
            (["pay", "--amont", "1.00", "--code", "1"], "unknown option --amont for cashier pay (did you mean --amount?)", "usage: cashier pay"),
            (["statsu"], "unknown command statsu (did you mean status?)", "usage: cashier <command>"),
            (["pay", "--amount", "1.00"], "cashier pay needs --code PAYCODE", "usage: cashier pay"),
            (["pay", "--amount", "abc", "--code", "1"], "--amount takes an amount like 12.34, not abc", "usage: cashier pay"),
            (["pay", "--amount", "1.00", "--code"], "--code needs a value (--code PAYCODE)", "usage: cashier pay"),
            (["orders", "--limit", "abc"], "--limit takes a whole number, not abc", "usage: cashier orders"),
            (["orders", "--limit", "500"], "--limit takes 1 to 200, not 500", "usage: cashier orders"),
            (["refund", "--order", "1", "--amount", "1.00"], "cashier refund needs --pin PIN", "usage: cashier refund"),
            (["tui", "--lang", "fr"], "--lang takes en or zh, not fr", "usage: cashier tui"),
            (["status", "extra"], "unexpected argument extra for cashier status", "usage: cashier status"),
            (["status", "--headless"], "unknown option --headless for cashier status", "usage: cashier status"),
            (["activate"], "cashier activate needs CODE (or --code CODE)", "usage: cashier activate (CODE | --code CODE)"),
            (["activate", "AAAA-BBBB", "--code", "CCCC-DDDD"], "give CODE or --code CODE to cashier activate, not both", "usage: cashier activate"),
            (["order"], "cashier order needs ORDER_NO (or --order N)", "usage: cashier order (ORDER_NO | --order N)"),
            (["completion", "zsh"], "SHELL takes bash, not zsh", "usage: cashier completion"),
        ]
        for (arguments, message, usage) in cases {
            let r = try cashier(arguments)
            XCTAssertEqual(r.status, 2, "\(arguments): \(r.stdout) \(r.stderr)")
            let lines = r.stderr.split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.first, "cashier: " + message, "\(arguments)")
            XCTAssertTrue(lines.dropFirst().first?.hasPrefix(usage) == true, "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stdout, "", "\(arguments): nothing on stdout without --json")
        }
        // With --json the error is also the one JSON object on stdout, as every other error is.
        let r = try cashier(["orders", "--limit", "abc", "--json"])
        XCTAssertEqual(r.status, 2)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["code"] as? String, "BAD_INPUT")
        XCTAssertEqual(object?["exit_code"] as? Int, 2)
        XCTAssertEqual(object?["detail"] as? String, "--limit takes a whole number, not abc")
        // A command line that is right goes on, and meets the bad configuration.
        XCTAssertEqual(try cashier(["orders", "--limit", "5"]).status, 8)
        XCTAssertEqual(try cashier(["--config", home.file("config.json"), "status", "--json"]).status, 8)
        XCTAssertEqual(try cashier(["--script", "", "--dump-screen"]).status, 8, "an empty key script is a key script (cashier-bench's first screen)")
        XCTAssertEqual(try cashier(["--headless"]).status, 8)
    }

    func testTheBashCompletionCompletesCommandsOptionsAndValues() throws {
        let r = try cashier(["completion", "bash"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let script = r.stdout
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashier", "pa"]), ["pay"])
        XCTAssertEqual(Set(try bashCompletion(script: script, words: ["cashier", "re"])), ["refund", "receipt", "resume"])
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashier", "pay", "--am"]), ["--amount"])
        XCTAssertEqual(Set(try bashCompletion(script: script, words: ["cashier", "refund", "--order", "1", "--"])),
                       ["--order", "--amount", "--pin", "--ref", "--json", "--config", "--help"])
        XCTAssertEqual(Set(try bashCompletion(script: script, words: ["cashier", "tui", "--lang", ""])), ["en", "zh"])
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashier", "--conf"]), ["--config"])
        XCTAssertEqual(try bashCompletion(script: script, words: ["cashier", "--config", "x.json", "sta"]), ["status"])
    }

    /// docs/CLIENT.md's command block is `cashier --help` word for word, so the docs name every command and
    /// option the table has, and nothing else.
    func testTheClientDocsShowTheCommandsAsTheTableDefinesThem() throws {
        let usage = try cashier(["--help"]).stdout.trimmingCharacters(in: .newlines)
        let documented = try XCTUnwrap(fencedBlock(after: "<!-- cashier --help -->", in: try repositoryFile("docs/CLIENT.md")),
                                       "docs/CLIENT.md has no block after <!-- cashier --help -->")
        XCTAssertEqual(documented, usage, "paste `cashier --help` into docs/CLIENT.md")
    }
}
