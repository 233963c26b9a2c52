import CashierClient
import CashierCore
import Foundation

/// `cashier`: the terminal client. The command line is the table in Table.swift; the commands are in
/// Commands.swift, the front end in TerminalUI.swift.
func main(_ arguments: [String]) -> Int32 {
    do {
        switch try commandTable.parse(arguments) {
        case .print(let text):
            print(text)
            return 0
        case .run(let invocation):
            guard let run = invocation.command.run else { return ExitCode.badInput.rawValue }
            return try run(invocation)
        }
    } catch let error as CommandLineError {
        // Bad input: the problem in one line and the command's usage on stderr; nothing was done. With
        // --json the error is also the one JSON object on stdout, as for every other error.
        if arguments.contains("--json") { Commands.printJSON(Reporting.error(APIError(.badInput, detail: error.message))) }
        FileHandle.standardError.write(Data("cashier: \(error.message)\n\(error.usage)\n".utf8))
        return ExitCode.badInput.rawValue
    } catch {
        FileHandle.standardError.write(Data("cashier: \(error)\n".utf8))
        return 1
    }
}

let status = main(Array(CommandLine.arguments.dropFirst()))
// Probe threads may still be inside libcurl: leave without running exit handlers that tear libcurl down under them.
fflush(nil)
_exit(status)
