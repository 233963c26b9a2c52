import CashierClient
import CashierCore
import Foundation

let usage = """
usage: cashier [--config PATH] COMMAND [--json]
  activate --code CODE [--name NAME]     activate this terminal and store its key
  status                                 domains, latencies, active domain, device
  pay --amount 12.34 --code PAYCODE [--items JSON]
                                         take a payment (creates the order, pays, waits, reverses at the deadline)
  refund --order N --amount A --pin P [--ref R]
                                         refund part or all of a paid order (a retry reuses the reference)
  orders [--limit N] [--cursor C]        the store's orders, newest first, one page
  order N                                one order
  resume                                 finish sales left unfinished by a crash
  --headless                             JSON commands on stdin, JSON events on stdout (docs/HEADLESS.md)
  tui | (nothing) | --script KEYS --dump-screen
                                         the terminal UI
exit codes: 0 ok/paid, 2 bad input, 3 declined, 4 not paid, 5 service unreachable, 6 refused by the service,
            7 needs attention, 8 not activated / configuration / keystore problem
"""

func main() -> Int32 {
    let arguments = Array(CommandLine.arguments.dropFirst())
    let options: Options
    do { options = try Options(arguments) } catch {
        FileHandle.standardError.write(Data("cashier: \(error.message)\n\(usage)\n".utf8))
        return ExitCode.badInput.rawValue
    }
    if options.flag("help") || options.command == "help" {
        print(usage)
        return 0
    }
    let engine: CashierEngine
    do { engine = try CashierEngine.open(configPath: options.value("config")) } catch {
        return Commands.report(error, json: options.json || options.flag("headless"))
    }
    defer { engine.stop() }
    if options.flag("headless") { return Commands.headless(engine) }
    if options.command == nil || options.command == "tui" || options.value("script") != nil {
        return runTerminalUI(engine: engine, arguments: arguments)
    }
    return Commands(engine: engine, options: options).run()
}

let status = main()
// Probe threads may still be inside libcurl: leave without running exit handlers that tear libcurl down under them.
fflush(nil)
_exit(status)
