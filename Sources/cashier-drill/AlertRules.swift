import Foundation

/// The production alert rules (deploy/prometheus/alerts.yml) on the drill's time scale.
///
/// The drill's phases last seconds, the rules wait minutes (`for: 1m`) and look back minutes or hours
/// (`rate(x[2m])`, `increase(y[1h])`), so the drill runs the same rules with every duration divided by a
/// factor. Only the durations of `for:` (and `keep_firing_for:`) values and of range selectors and subqueries
/// in `expr:` values are rewritten; everything else (comments, labels, annotation templates) stays byte for byte.
enum DrillAlertRules {
    /// `rulesYAML` with every such duration divided by `factor`, rounded up to whole seconds, at least
    /// `minimumSeconds`, written as `Ns` (a zero duration stays `0s`). A duration that is not Prometheus's
    /// form (`1h30m`, `90s`, `500ms`, units ms s m h d w y) is left alone.
    static func scaled(_ rulesYAML: String, dividedBy factor: Int, minimumSeconds: Int) -> String {
        let scale = DurationScale(factor: max(1, factor), minimumSeconds: max(0, minimumSeconds))
        let lines = rulesYAML.components(separatedBy: "\n")
        var out: [String] = []
        out.reserveCapacity(lines.count)
        var i = 0
        while i < lines.count {
            guard let key = KeyLine(lines[i]) else { out.append(lines[i]); i += 1; continue }
            // A scalar that starts on the key's line goes on over the following lines indented deeper
            // (a block scalar `|`, a folded or quoted one); a key with nothing after it opens a nested mapping.
            var end = i + 1
            if key.hasValue {
                while end < lines.count, Self.continues(lines[end], beyond: key.indent) { end += 1 }
            }
            switch key.name {
            case "expr":
                let value = ([key.value] + lines[(i + 1)..<end]).joined(separator: "\n")
                let rewritten = scale.rangeSelectors(in: value).components(separatedBy: "\n")
                out.append(key.prefix + rewritten[0])
                out.append(contentsOf: rewritten.dropFirst())
            case "for", "keep_firing_for":
                out.append(key.prefix + scale.plainDuration(in: key.value))
                out.append(contentsOf: lines[(i + 1)..<end])
            default:
                out.append(contentsOf: lines[i..<end])
            }
            i = end
        }
        return out.joined(separator: "\n")
    }

    /// Whether `line` belongs to a scalar whose key sits at column `indent`: blank, or indented deeper.
    private static func continues(_ line: String, beyond indent: Int) -> Bool {
        let spaces = line.prefix { $0 == " " }.count
        return spaces == line.count || spaces > indent
    }
}

/// A `key: value` line of block YAML (`  - alert: X`, `    for: 1m`), split where the value begins.
private struct KeyLine {
    /// Everything up to the value: indentation, an item's `- `, the key, the colon and the spaces after it.
    var prefix: String
    var name: String
    /// The rest of the line (empty when the key opens a nested mapping or list).
    var value: String
    /// The key's column.
    var indent: Int
    var hasValue: Bool { !value.isEmpty && !value.hasPrefix("#") }

    init?(_ line: String) {
        let chars = Array(line)
        var k = 0
        while k < chars.count, chars[k] == " " { k += 1 }
        while k + 1 < chars.count, chars[k] == "-", chars[k + 1] == " " {
            k += 2
            while k < chars.count, chars[k] == " " { k += 1 }
        }
        let nameStart = k
        while k < chars.count, chars[k].isLetter || chars[k].isNumber || chars[k] == "_" { k += 1 }
        guard k > nameStart, k < chars.count, chars[k] == ":", k + 1 == chars.count || chars[k + 1] == " " else { return nil }
        var valueStart = k + 1
        while valueStart < chars.count, chars[valueStart] == " " { valueStart += 1 }
        prefix = String(chars[..<valueStart])
        name = String(chars[nameStart..<k])
        value = String(chars[valueStart...])
        indent = nameStart
    }
}

/// Prometheus durations, divided.
private struct DurationScale {
    let factor: Int
    let minimumSeconds: Int

    /// Milliseconds of a Prometheus duration (`1h30m`, `2m`, `500ms`), nil when `text` is not one.
    static func milliseconds(_ text: Substring) -> Int? {
        let units: [(String, Int)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
                                      ("w", 604_800_000), ("y", 31_536_000_000)]
        var rest = text
        var total = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let n = Int(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let (unit, ms) = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.count)
            let (product, overflow) = n.multipliedReportingOverflow(by: ms)
            guard !overflow else { return nil }
            total += product
        }
        return total
    }

    /// The scaled form of duration `text`, or `text` itself when it is not a duration.
    func scaled(_ text: Substring) -> String {
        guard let ms = Self.milliseconds(text) else { return String(text) }
        guard ms > 0 else { return "0s" }
        let divisor = factor * 1_000
        return "\(max(minimumSeconds, (ms + divisor - 1) / divisor))s"
    }

    /// A `for:` value: the duration, maybe quoted, maybe followed by a comment.
    func plainDuration(in value: String) -> String {
        var body = Substring(value)
        var quote = ""
        if let q = body.first, q == "\"" || q == "'" {
            quote = String(q)
            body = body.dropFirst()
        }
        let token = body.prefix { $0.isASCII && ($0.isLetter || $0.isNumber) }
        guard !token.isEmpty else { return value }
        return quote + scaled(token) + String(body.dropFirst(token.count))
    }

    /// A PromQL expression as written in YAML (plain, block, or quoted) with the durations of its range
    /// selectors (`x[5m]`) and subqueries (`(…)[1h:1m]`) scaled. Brackets in PromQL strings (`=~"[5m]"`) and
    /// comments are left alone; in a YAML-quoted expression, its escapes (`\"`, `''`) are read as YAML does.
    func rangeSelectors(in yamlValue: String) -> String {
        let original = Array(yamlValue)
        // The PromQL text, character by character, each with its position in `original`.
        var logical: [(char: Character, at: Int)] = []
        var k = 0
        let first = original.first
        if first == "\"" {
            k = 1
            while k < original.count {
                let c = original[k]
                if c == "\"" { break }
                if c == "\\", k + 1 < original.count { logical.append((original[k + 1], k + 1)); k += 2; continue }
                logical.append((c, k)); k += 1
            }
        } else if first == "'" {
            k = 1
            while k < original.count {
                let c = original[k]
                if c == "'" {
                    if k + 1 < original.count, original[k + 1] == "'" { logical.append(("'", k + 1)); k += 2; continue }
                    break
                }
                logical.append((c, k)); k += 1
            }
        } else {
            logical = original.enumerated().map { ($0.element, $0.offset) }
        }

        // (start, end) in `original` of each duration to replace, in order.
        var replacements: [(Range<Int>, String)] = []
        var quote: Character? = nil
        var j = 0
        while j < logical.count {
            let c = logical[j].char
            if let q = quote {
                if c == "\\" && q != "`" { j += 2; continue }
                if c == q { quote = nil }
                j += 1; continue
            }
            switch c {
            case "\"", "'", "`":
                quote = c; j += 1
            case "#":
                while j < logical.count, logical[j].char != "\n" { j += 1 }
            case "[":
                if let (found, next) = rangeDurations(logical, from: j + 1) {
                    replacements += found
                    j = next
                } else {
                    j += 1
                }
            default:
                j += 1
            }
        }
        var result = original
        for (range, text) in replacements.reversed() { result.replaceSubrange(range, with: Array(text)) }
        return String(result)
    }

    /// The durations of `[d]`, `[d:]` or `[d:r]` starting just after the `[` at `from`, and the index after
    /// its `]`; nil when the brackets hold anything else.
    private func rangeDurations(_ logical: [(char: Character, at: Int)], from: Int) -> ([(Range<Int>, String)], Int)? {
        var j = from
        var found: [(Range<Int>, String)] = []
        func skipSpaces() { while j < logical.count, logical[j].char == " " || logical[j].char == "\t" { j += 1 } }
        /// A duration at `j`, if one is there.
        func duration() -> Bool {
            let start = j
            while j < logical.count, logical[j].char.isASCII, logical[j].char.isLetter || logical[j].char.isNumber { j += 1 }
            guard j > start else { return false }
            let text = Substring(String(logical[start..<j].map(\.char)))
            guard Self.milliseconds(text) != nil else { return false }
            // Alphanumerics are never escaped, so the duration is one contiguous run of the original text.
            found.append((logical[start].at..<(logical[j - 1].at + 1), scaled(text)))
            return true
        }
        skipSpaces()
        guard duration() else { return nil }
        skipSpaces()
        if j < logical.count, logical[j].char == ":" {
            j += 1
            skipSpaces()
            if j < logical.count, logical[j].char != "]" { guard duration() else { return nil } }
            skipSpaces()
        }
        guard j < logical.count, logical[j].char == "]" else { return nil }
        return (found, j + 1)
    }
}
