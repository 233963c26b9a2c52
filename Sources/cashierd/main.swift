import CashierCore
import Foundation

/// `cashierd`: the cashier service and its administration commands. The command line is the table in
/// Table.swift; each command's implementation is in Commands.swift.
func main(_ arguments: [String]) -> Int32 {
    do {
        switch try commandTable.parse(arguments) {
        case .print(let text):
            print(text)
            return 0
        case .run(let invocation):
            guard let run = invocation.command.run else { return 2 }
            return try run(invocation)
        }
    } catch let error as CommandLineError {
        // Bad usage: the problem in one line, then the command's usage; nothing was done.
        FileHandle.standardError.write(Data("cashierd: \(error.message)\n\(error.usage)\n".utf8))
        return 2
    } catch {
        FileHandle.standardError.write(Data("cashierd: \(error)\n".utf8))
        return 1
    }
}

exit(main(Array(CommandLine.arguments.dropFirst())))
