import Foundation

/// The languages the screens are translated into.
public enum Language: String, CaseIterable, Sendable {
    case english = "en"
    case chinese = "zh"

    /// The language named by CASHIER_LANG (an override), else LC_ALL, else LC_MESSAGES, else LANG:
    /// `zh…` is Chinese, anything else English.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Language {
        for name in ["CASHIER_LANG", "LC_ALL", "LC_MESSAGES", "LANG"] {
            if let value = environment[name], !value.isEmpty {
                return value.lowercased().hasPrefix("zh") ? .chinese : .english
            }
        }
        return .english
    }
}

/// Texts shown to people, loaded from Strings/<language>.json in the module's resources.
///
/// A key missing in a language falls back to English, then to the key itself. `{0}`, `{1}`… in a text
/// are replaced by the arguments.
public struct Strings: Sendable {
    public let language: Language
    private let table: [String: String]
    private let fallback: [String: String]

    public init(language: Language) {
        self.language = language
        fallback = Strings.loadTable(.english)
        table = language == .english ? fallback : Strings.loadTable(language)
    }

    public subscript(_ key: String, _ arguments: CustomStringConvertible...) -> String {
        var text = table[key] ?? fallback[key] ?? key
        for (i, argument) in arguments.enumerated() {
            text = text.replacingOccurrences(of: "{\(i)}", with: argument.description)
        }
        return text
    }

    /// Whether a key has a text in this language (used by tests to find missing translations).
    public func has(_ key: String) -> Bool { table[key] != nil }

    /// All keys of the English table.
    public var keys: [String] { fallback.keys.sorted() }

    static func loadTable(_ language: Language) -> [String: String] {
        guard let url = Bundle.module.url(forResource: language.rawValue, withExtension: "json", subdirectory: "Strings")
                ?? Bundle.module.url(forResource: language.rawValue, withExtension: "json"),
              let data = try? Data(contentsOf: url),
              let table = try? JSONDecoder().decode([String: String].self, from: data) else { return [:] }
        return table
    }
}
