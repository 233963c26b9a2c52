import CashierService
import Foundation

/// What a bash completion script (`cashier completion bash`) offers, in a real bash: the script is
/// sourced, `COMP_WORDS`/`COMP_CWORD` are set as bash sets them while the user types `words` (the last
/// one being the word under the cursor), the completion function `complete` registered for the program
/// is called, and `COMPREPLY` comes back.
public func bashCompletion(script: String, words: [String]) throws -> [String] {
    let directory = try TemporaryDirectory(prefix: "completion")
    let file = directory.file("completion.bash")
    try script.write(toFile: file, atomically: true, encoding: .utf8)
    let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    let program = """
    source '\(file)' || exit 3
    function=$(complete -p '\(words[0])' | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')
    [ -n "$function" ] || { echo "no completion registered for \(words[0])" >&2; exit 4; }
    COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
    "$function" '\(words[0])' "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf '%s\\n' "${COMPREPLY[@]}"
    """
    let r = try runCommand("/bin/bash", ["--norc", "--noprofile", "-c", program], timeoutSeconds: 20)
    guard r.status == 0, r.stderr.isEmpty else { throw RuntimeError("bash: exit \(r.status): \(r.stderr)") }
    return r.stdout.split(separator: "\n").map(String.init)
}

/// A file of this repository (`docs/CLIENT.md`), read from the source tree.
public func repositoryFile(_ relativePath: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return try String(contentsOf: root.appendingPathComponent(relativePath), encoding: .utf8)
}

/// The fenced block that follows the line containing `marker` in a Markdown text, without the fences.
public func fencedBlock(after marker: String, in markdown: String) -> String? {
    let lines = markdown.components(separatedBy: "\n")
    guard let at = lines.firstIndex(where: { $0.contains(marker) }), at + 1 < lines.count, lines[at + 1].hasPrefix("```") else { return nil }
    guard let end = lines[(at + 2)...].firstIndex(where: { $0.hasPrefix("```") }) else { return nil }
    return lines[(at + 2)..<end].joined(separator: "\n")
}
