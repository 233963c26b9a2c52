import Foundation

/// One line of the results table: a figure, its value and how it was measured.
///
/// Printed as `ROW<TAB>figure<TAB>value<TAB>how` so scripts/bench.sh can gather rows from every step.
func row(_ figure: String, _ value: String, _ how: String) {
    FileHandle.standardOutput.write(Data("ROW\t\(figure)\t\(value)\t\(how)\n".utf8))
}

/// One line of the goals table: a goal of the performance issue, the ratio measured in this run, and
/// whether it is met. Printed as `GOAL<TAB>goal<TAB>measured<TAB>verdict`; scripts/bench.sh puts these
/// first, above the detailed rows they are computed from.
func goal(_ name: String, _ measured: String, met: Bool?) {
    let verdict = met.map { $0 ? "met" : "not met" } ?? "not measured"
    FileHandle.standardOutput.write(Data("GOAL\t\(name)\t\(measured)\t\(verdict)\n".utf8))
}

/// A progress note on standard error (kept out of the table).
func note(_ text: String) {
    FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
