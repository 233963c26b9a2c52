// swift-tools-version:6.0
import PackageDescription

/// One system-library target per C library; each is wrapped once, thinly, by one Swift module.
func systemLibrary(_ name: String, pkgConfig: String, apt: [String]) -> Target {
    .systemLibrary(name: name, path: "Sources/\(name)", pkgConfig: pkgConfig, providers: [.apt(apt)])
}

let package = Package(
    name: "Cashier",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cashier", targets: ["cashier"]),
        .executable(name: "cashierd", targets: ["cashierd"]),
    ],
    targets: [
        // C libraries from Debian.
        systemLibrary("CCurl", pkgConfig: "libcurl", apt: ["libcurl4-openssl-dev"]),
        systemLibrary("CMicroHTTPD", pkgConfig: "libmicrohttpd", apt: ["libmicrohttpd-dev"]),
        systemLibrary("COpenSSL", pkgConfig: "libcrypto", apt: ["libssl-dev"]),
        systemLibrary("CSQLite", pkgConfig: "sqlite3", apt: ["libsqlite3-dev"]),
        systemLibrary("CPostgres", pkgConfig: "libpq", apt: ["libpq-dev"]),
        systemLibrary("CNcursesw", pkgConfig: "ncursesw", apt: ["libncurses-dev"]),
        // Typed wrappers for variadic C functions and awkward macros.
        .target(name: "CShims", dependencies: ["CCurl", "CMicroHTTPD", "COpenSSL", "CNcursesw"]),

        // Thin Swift wrappers, one per C library.
        .target(name: "CashierCrypto", dependencies: ["COpenSSL", "CShims"]),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        .target(name: "Postgres", dependencies: ["CPostgres"]),
        .target(name: "HTTPServer", dependencies: ["CShims", "CMicroHTTPD"]),
        .target(name: "HTTPClient", dependencies: ["CShims", "CCurl"]),
        .target(name: "Terminal", dependencies: ["CShims", "CNcursesw"]),

        // The pure core shared by both programs: value types and state machines, no I/O.
        .target(name: "CashierCore", dependencies: ["CashierCrypto"]),
        // Storage: base data and order groups (SQLite, PostgreSQL) and order hopping.
        .target(name: "CashierStorage", dependencies: ["CashierCore", "SQLite", "Postgres"]),
        // Payment channels: one interface, one adapter per provider (sandbox, WeChat Pay, Alipay).
        .target(name: "CashierChannels", dependencies: ["CashierCore", "CashierCrypto", "HTTPClient", "SQLite"]),
        // The service: handlers, authentication, overload protection.
        .target(name: "CashierService", dependencies: ["CashierCore", "CashierStorage", "CashierChannels", "HTTPServer", "SQLite", "Postgres"]),
        // The client engine: transport, probing, payment flow, journal, headless mode.
        .target(name: "CashierClient", dependencies: ["CashierCore", "HTTPClient", "SQLite"]),
        // The terminal front end: screens rendered into text buffers, drawn with ncursesw.
        .target(name: "CashierTUI", dependencies: ["CashierCore", "CashierClient", "Terminal"],
                resources: [.copy("Strings")]),

        .executableTarget(name: "cashier", dependencies: ["CashierClient", "CashierTUI"]),
        .executableTarget(name: "cashierd", dependencies: ["CashierService"]),
        .executableTarget(name: "cashier-drill", dependencies: ["CashierClient", "CashierService", "HTTPClient"]),
        .executableTarget(name: "cashier-bench", dependencies: ["CashierClient", "CashierService", "CashierStorage", "SQLite"]),

        // Helpers shared by test targets: start real services, temporary directories.
        .target(name: "TestSupport", dependencies: ["CashierCore", "CashierService", "CashierClient", "SQLite"], path: "Tests/TestSupport"),
        .testTarget(name: "CashierCoreTests", dependencies: ["CashierCore"]),
        .testTarget(name: "CashierStorageTests", dependencies: ["CashierStorage", "TestSupport"]),
        .testTarget(name: "CashierServiceTests", dependencies: ["CashierService", "CashierClient", "TestSupport"]),
        .testTarget(name: "CashierClientTests", dependencies: ["CashierClient", "CashierCore", "CashierCrypto", "HTTPServer", "TestSupport"]),
        .testTarget(name: "CashierTUITests", dependencies: ["CashierTUI", "TestSupport"]),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient"]),
        .testTarget(name: "CashierChannelsTests", dependencies: ["CashierChannels", "CashierCore", "CashierCrypto", "HTTPClient"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "CashierCrypto"]),
        .testTarget(name: "DrillTests", dependencies: ["CashierCore", "TestSupport"]),
        .testTarget(name: "AdversarialTests", dependencies: ["CashierService", "CashierClient", "TestSupport", "HTTPClient", "HTTPServer", "CashierCrypto"]),
        .testTarget(name: "TUIEndToEndTests", dependencies: ["CashierClient", "CashierService", "TestSupport"]),
    ]
)
