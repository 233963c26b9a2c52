@testable import CashierCore
import Foundation
import XCTest

/// The command table machinery: parsing with typed values, every refusal, help, usage and completion,
/// on a small table shaped like the programs' own.
final class CommandLineTests: XCTestCase {
    /// What the implementations were handed, by the test's table.
    static let table = CommandTable(
        program: "shopd", summary: "a test program",
        globalOptions: [.path("data", "DIR", defaultText: "$SHOPD_DATA, else ./var", help: "the data directory")],
        commands: [
            Command("init", summary: "create the data directory", description: "Creates everything; never overwrites.", options: [
                .integer("groups", in: 1...100, default: 4, help: "order groups"),
                .string("listen", "HOST:PORT", repeatable: true, help: "an address to listen on"),
                .flag("demo", help: "seed a demo store"),
            ], run: { _ in 0 }),
            Command("pay", summary: "take a payment", options: [
                .amount("amount", required: true, help: "how much"),
                .string("code", "PAYCODE", required: true, help: "the customer's code"),
                .choice("lang", ["en", "zh"], default: "en", help: "the language"),
            ], run: { _ in 0 }),
            .group("device", summary: "terminals", [
                Command("list", summary: "list terminals", options: [.flag("json", help: "as JSON")], run: { _ in 0 }),
                Command("revoke", summary: "block a terminal", arguments: [.init("DEVICE_ID", help: "the device")], run: { _ in 0 }),
            ]),
            .group("groups", summary: "order groups", default: "list", [
                Command("list", summary: "list the groups", run: { _ in 0 }),
                Command("add", summary: "add a group", options: [.integer("tag", required: true, help: "its tag")], run: { _ in 0 }),
            ]),
        ],
        footer: "exit codes: 0 ok, 2 bad usage")

    private func invocation(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Invocation {
        guard case .run(let inv) = try Self.table.parse(args) else {
            XCTFail("\(args) did not ask to run a command", file: file, line: line)
            throw CommandLineError("", usage: "", path: [])
        }
        return inv
    }

    private func refusal(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> CommandLineError? {
        do {
            let r = try Self.table.parse(args)
            XCTFail("\(args) was accepted: \(r)", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    private func printed(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        guard case .print(let text) = try Self.table.parse(args) else {
            XCTFail("\(args) did not print", file: file, line: line)
            return ""
        }
        return text
    }

    func testValuesAreHandedOverTypedWithTheTablesDefaults() throws {
        let inv = try invocation(["init", "--groups", "7", "--listen", "a:1", "--listen=b:2", "--demo", "--data", "/d"])
        XCTAssertEqual(inv.path, ["init"])
        XCTAssertEqual(inv.integer("groups"), 7)
        XCTAssertEqual(inv.strings("listen"), ["a:1", "b:2"], "a repeatable option keeps every value, in order")
        XCTAssertTrue(inv.flag("demo"))
        XCTAssertEqual(inv.string("data"), "/d")

        let defaults = try invocation(["init"])
        XCTAssertEqual(defaults.integer("groups"), 4, "the table's default")
        XCTAssertFalse(defaults.isGiven("groups"))
        XCTAssertEqual(defaults.strings("listen"), [])
        XCTAssertFalse(defaults.flag("demo"))
        XCTAssertNil(defaults.string("data"), "a default the implementation works out is not invented")

        let pay = try invocation(["pay", "--code", "13", "--amount", "12.3"])
        XCTAssertEqual(pay.amount("amount"), 1230, "an amount in minor units")
        XCTAssertEqual(pay.string("lang"), "en")
        XCTAssertEqual(try pay.requiredString("code"), "13")
    }

    func testGlobalOptionsComeAnywhereAndSubcommandsAreFollowed() throws {
        // The way the tests' admin helper writes it: the data directory between a command and its subcommand.
        let inv = try invocation(["device", "--data", "/d", "revoke", "D1"])
        XCTAssertEqual(inv.path, ["device", "revoke"])
        XCTAssertEqual(inv.argument("DEVICE_ID"), "D1")
        XCTAssertEqual(inv.string("data"), "/d")
        XCTAssertEqual(try invocation(["--data", "/d", "device", "list", "--json"]).path, ["device", "list"])
        XCTAssertEqual(try invocation(["groups"]).path, ["groups", "list"], "a group's default subcommand")
        XCTAssertEqual(try invocation(["groups", "--data", "/d"]).path, ["groups", "list"])
        XCTAssertEqual(try invocation(["groups", "add", "--tag", "3"]).integer("tag"), 3)
        XCTAssertEqual(try invocation(["device", "revoke", "--", "--odd-id"]).argument("DEVICE_ID"), "--odd-id", "-- ends the options")
    }

    func testEveryKindOfMistakeIsRefusedNamingIt() throws {
        let cases: [([String], String)] = [
            (["init", "--lisen", "x:1"], "unknown option --lisen for shopd init (did you mean --listen?)"),
            (["init", "--bogus", "1"], "unknown option --bogus for shopd init"),
            (["init", "-x"], "unknown option -x for shopd init"),
            (["bogus"], "unknown command bogus"),
            (["devce", "list"], "unknown command devce (did you mean device?)"),
            (["device", "remove", "D1"], "unknown command remove for shopd device (did you mean revoke?)"),
            (["device", "delete", "D1"], "unknown command delete for shopd device"),
            (["device"], "shopd device needs a command: list, revoke"),
            (["pay", "--amount", "1.00"], "shopd pay needs --code PAYCODE"),
            (["pay", "--code", "1"], "shopd pay needs --amount AMOUNT"),
            (["init", "--groups"], "--groups needs a value (--groups N)"),
            (["init", "--groups", "--demo"], "--groups needs a value (--groups N)"),
            (["init", "--groups", "abc"], "--groups takes a whole number, not abc"),
            (["init", "--groups", "0"], "--groups takes 1 to 100, not 0"),
            (["init", "--groups", "2", "--groups", "3"], "--groups is given twice; it takes one value"),
            (["init", "--demo=yes"], "--demo takes no value"),
            (["init", "--listen", ""], "--listen needs a value that is not empty"),
            (["pay", "--amount", "abc", "--code", "1"], "--amount takes an amount like 12.34, not abc"),
            (["pay", "--amount", "1.234", "--code", "1"], "--amount takes an amount like 12.34, not 1.234"),
            (["pay", "--amount", "0", "--code", "1"], "--amount takes an amount above zero, not 0"),
            (["pay", "--amount", "1", "--code", "1", "--lang", "fr"], "--lang takes en or zh, not fr"),
            (["device", "revoke"], "shopd device revoke needs DEVICE_ID"),
            (["device", "revoke", "D1", "D2"], "unexpected argument D2 for shopd device revoke"),
            (["init", "extra"], "unexpected argument extra for shopd init"),
            (["groups", "add"], "shopd groups add needs --tag N"),
            (["help", "nothing"], "no command nothing in shopd"),
        ]
        for (args, message) in cases {
            XCTAssertEqual(refusal(args)?.message, message, "\(args)")
        }
        // The error carries the command's usage, for standard error.
        let usage = try XCTUnwrap(refusal(["init", "--lisen", "x:1"])?.usage)
        XCTAssertTrue(usage.hasPrefix("usage: shopd init [--groups N] [--listen HOST:PORT]... [--demo]"), usage)
        XCTAssertTrue(usage.contains("shopd init --help"), usage)
        let groupUsage = try XCTUnwrap(refusal(["device"])?.usage)
        XCTAssertTrue(groupUsage.contains("shopd device revoke DEVICE_ID"), groupUsage)
    }

    func testHelpIsPrintedForEveryCommandAndWinsOverEverythingElse() throws {
        let help = try printed(["init", "--help"])
        XCTAssertEqual(help, try printed(["help", "init"]))
        XCTAssertEqual(help, try printed(["init", "-h", "--bogus", "--groups", "abc"]), "--help wins over mistakes in options")
        XCTAssertEqual(help, try printed(["--data", "/d", "init", "--groups", "9", "--help"]))
        for text in ["usage: shopd init [--groups N] [--listen HOST:PORT]... [--demo]", "create the data directory",
                     "Creates everything; never overwrites.", "--groups N", "order groups (1 to 100; default 4)",
                     "an address to listen on (repeatable)", "--data DIR", "(default $SHOPD_DATA, else ./var)", "-h, --help"] {
            XCTAssertTrue(help.contains(text), "init's help lacks \(text):\n\(help)")
        }
        let pay = try printed(["pay", "--help"])
        XCTAssertTrue(pay.hasPrefix("usage: shopd pay --amount AMOUNT --code PAYCODE [--lang en|zh]"), pay)
        XCTAssertTrue(pay.contains("how much (required)"), pay)
        let device = try printed(["device", "--help"])
        XCTAssertTrue(device.contains("device list [--json]") && device.contains("device revoke DEVICE_ID"), device)
        XCTAssertTrue(try printed(["device", "revoke", "--help"]).contains("DEVICE_ID"))
        XCTAssertTrue(try printed(["groups", "--help"]).contains("With no command, `shopd groups list`."))
        XCTAssertThrowsError(try Self.table.parse(["bogus", "--help"]), "no help for a command that does not exist")
    }

    func testTheTopLevelUsageListsEveryCommandAndOption() throws {
        let usage = try printed(["--help"])
        XCTAssertEqual(usage, try printed([]), "no command prints the usage")
        XCTAssertEqual(usage, try printed(["help"]))
        for line in ["init [--groups N] [--listen HOST:PORT]... [--demo]", "pay --amount AMOUNT --code PAYCODE [--lang en|zh]",
                     "device list [--json]", "device revoke DEVICE_ID", "groups [list]", "groups add --tag N",
                     "help [COMMAND...]", "completion SHELL", "--data DIR", "exit codes: 0 ok, 2 bad usage"] {
            XCTAssertTrue(usage.contains(line), "the usage lacks \(line):\n\(usage)")
        }
        XCTAssertEqual(Self.table.runnableCommands().map { $0.path.joined(separator: " ") },
                       ["init", "pay", "device list", "device revoke", "groups list", "groups add", "help", "completion"])
    }

    func testAProgramWithAFrontEndRunsItWithNoCommand() throws {
        let table = CommandTable(program: "till", summary: "a till", globalOptions: [.path("config", help: "the configuration")],
                                 options: [.flag("headless", help: "JSON lines"), .string("script", "KEYS", allowsEmpty: true, help: "keys to type")],
                                 run: { _ in 0 }, commands: [
                                    Command("status", summary: "how it is", run: { _ in 0 }),
                                    Command("activate", summary: "activate", options: [.string("code", "CODE", help: "the code")],
                                            arguments: [.init("CODE", or: "code", help: "the code")], run: { _ in 0 }),
                                 ])
        guard case .run(let front) = try table.parse(["--config", "c.json", "--script", "12<Enter>"]) else { return XCTFail() }
        XCTAssertEqual(front.path, [])
        XCTAssertEqual(front.string("script"), "12<Enter>")
        XCTAssertEqual(front.string("config"), "c.json")
        guard case .run(let empty) = try table.parse(["--script", ""]) else { return XCTFail() }
        XCTAssertEqual(empty.string("script"), "", "an option that takes an empty value")
        guard case .run(let status) = try table.parse(["--config", "c.json", "status"]) else { return XCTFail() }
        XCTAssertEqual(status.path, ["status"])
        XCTAssertThrowsError(try table.parse(["statsu"])) { XCTAssertEqual(($0 as? CommandLineError)?.message, "unknown command statsu (did you mean status?)") }
        XCTAssertThrowsError(try table.parse(["status", "--headless"])) {
            XCTAssertEqual(($0 as? CommandLineError)?.message, "unknown option --headless for till status")
        }
        // An argument that may be given as an option instead.
        for line in [["activate", "AB12"], ["activate", "--code", "AB12"], ["activate", "AB12", "--code", "AB12"]] {
            guard case .run(let activate) = try table.parse(line) else { return XCTFail() }
            XCTAssertEqual(activate.argument("CODE"), "AB12", "\(line)")
        }
        XCTAssertThrowsError(try table.parse(["activate"])) {
            XCTAssertEqual(($0 as? CommandLineError)?.message, "till activate needs CODE (or --code CODE)")
        }
        XCTAssertThrowsError(try table.parse(["activate", "AB12", "--code", "CD34"])) {
            XCTAssertEqual(($0 as? CommandLineError)?.message, "give CODE or --code CODE to till activate, not both")
        }
        XCTAssertEqual(table.synopsis(at: ["activate"]), "activate (CODE | --code CODE)")
        guard case .print(let usage) = try table.parse(["--help"]) else { return XCTFail() }
        XCTAssertTrue(usage.contains("       till [--headless] [--script KEYS]"), usage)
    }

    func testABadTableIsFoundWhenItIsMade() {
        let run: @Sendable (Invocation) throws -> Int32 = { _ in 0 }
        let root = Command("p", summary: "", subcommands: [
            Command("a", summary: "", options: [.flag("x", help: ""), .flag("x", help: ""), .string("data", help: "")], run: run),
            Command("a", summary: "", arguments: [.init("A", required: false, help: ""), .init("B", help: "")], run: run),
            .group("g", summary: "", default: "nothing", [Command("b", summary: "", options: [.choice("c", ["one", "t w o"], help: "")], run: run)]),
        ])
        let problems = CommandTable.problems(root: root, globals: [.path("data", help: "")])
        for expected in ["p a: --x twice", "p a: --data is a global option", "p: command a twice", "p a: required B after an optional argument",
                         "p g: no default subcommand nothing", "p g b: --c has a choice that is not a plain word"] {
            XCTAssertTrue(problems.contains(expected), "\(expected) not in \(problems)")
        }
    }

    /// The completion script in a real bash: commands, subcommands, options (global ones too) and choice values.
    func testTheCompletionScriptCompletesInBash() throws {
        let script = Self.table.bashCompletionScript()
        func complete(_ words: [String]) throws -> [String] {
            let quotedWords = words.map { "'\($0)'" }.joined(separator: " ")
            let program = """
            \(script)
            COMP_WORDS=(\(quotedWords)); COMP_CWORD=\(words.count - 1)
            _shopd
            printf '%s\\n' "${COMPREPLY[@]}"
            """
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["--norc", "--noprofile", "-c", program]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            let problems = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, problems)
            XCTAssertEqual(problems, "", "bash complained about the script")
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        XCTAssertEqual(try complete(["shopd", "de"]), ["device"])
        XCTAssertEqual(Set(try complete(["shopd", ""])), ["init", "pay", "device", "groups", "help", "completion"])
        XCTAssertEqual(try complete(["shopd", "device", "r"]), ["revoke"])
        XCTAssertEqual(try complete(["shopd", "init", "--gr"]), ["--groups"])
        XCTAssertEqual(Set(try complete(["shopd", "device", "list", "--"])), ["--json", "--data", "--help"])
        XCTAssertEqual(try complete(["shopd", "--data", "/tmp", "device", "list", "--j"]), ["--json"], "a global option's value is skipped")
        XCTAssertEqual(Set(try complete(["shopd", "pay", "--lang", ""])), ["en", "zh"])
        XCTAssertEqual(try complete(["shopd", "pay", "--amount", "1", "--l"]), ["--lang"])
        XCTAssertEqual(try complete(["shopd", "completion", ""]), ["bash"])
        XCTAssertEqual(try complete(["shopd", "init", "--groups", ""]), [], "nothing to offer for a number")
        XCTAssertTrue(try complete(["shopd", "--data", "/"]).contains("/tmp"), "a path completes as a file name")
    }
}
