import CashierCore
import CashierStorage

/// `cashierd`'s whole command line. Parsing, every `--help`, the usage and `cashierd completion bash` are
/// made from this one value; each command's implementation (Commands.swift) gets the typed values.
///
/// `help` and `completion` come with every table.
///
/// To add a command: one `Command(...)` here (in a `.group` for `cashierd NOUN VERB`), naming its options
/// with their types, defaults and help, and `run:` a function `(Invocation) throws -> Int32` in
/// Commands.swift. docs/OPERATIONS.md's command block is `cashierd --help`; `CashierdCommandLineTests`
/// fails until it is pasted in.
let commandTable = CommandTable(
    program: "cashierd",
    summary: "the cashier service and its administration",
    globalOptions: [
        .path("data", "DIR", defaultText: "$CASHIERD_DATA, else ./var/cashierd", help: "the data directory"),
    ],
    commands: [
        Command("init", summary: "create the data directory: configuration, private CA, certificates, databases",
                description: "Never overwrites: a directory that holds a configuration is refused and left as it is.",
                options: [
                    .integer("groups", in: 1...100, default: 4, help: "order groups, one SQLite file each"),
                    .string("listen", "HOST:PORT", repeatable: true, defaultText: "127.0.0.1:8443 and 127.0.0.2:8444", help: "an HTTPS address"),
                    .string("plain", "HOST:PORT", repeatable: true, help: "a plain HTTP address, only behind a load balancer"),
                    .integer("instance", in: 0...999, default: 1, help: "this instance's number, part of every order number"),
                    .string("name", "DNS", repeatable: true, help: "another name for the service certificate"),
                    .flag("demo", help: "also a demo merchant, store, supervisor, cashier and an activation code for a day"),
                    .flag("json", help: "print one JSON document (what was made, the demo store) instead of lines"),
                ],
                run: CashierdCommands.initialize),
        Command("serve", summary: "serve HTTPS (and plain HTTP for a load balancer) until SIGTERM or SIGINT",
                description: "Prints `cashierd-N listening on URL, URL` once it listens; SIGTERM or SIGINT lets requests "
                    + "in flight finish and exits 0.",
                options: [
                    .string("listen", "HOST:PORT", repeatable: true, help: "serve HTTPS here instead of the configured addresses"),
                    .string("plain", "HOST:PORT", repeatable: true, help: "serve plain HTTP here instead (behind a load balancer)"),
                    .integer("instance", in: 0...999, help: "this instance's number instead of the configuration's"),
                    .flag("quiet", help: "write no request log"),
                ],
                run: CashierdCommands.serve),
        .group("merchant", summary: "merchants and their orders", [
            Command("add", summary: "add a merchant; prints its id", arguments: [.init("NAME", help: "the merchant's name")],
                    run: CashierdCommands.merchantAdd),
            Command("list", summary: "every merchant: id, name", run: CashierdCommands.merchantList),
            Command("orders", summary: "a merchant's orders from every store and group, newest first",
                    description: "One line per order (number, created UTC, store, status, amount; tab-separated), then "
                        + "`next: --cursor C` when there may be more. Exits 1 when a group did not answer.",
                    options: [
                        .integer("limit", in: 1...500, default: 20, help: "orders on the page"),
                        .string("cursor", "C", help: "where the page starts, as the last page printed"),
                    ],
                    arguments: [.init("MERCHANT_ID", help: "the merchant")],
                    run: CashierdCommands.merchantOrders),
        ]),
        .group("store", summary: "stores", [
            Command("add", summary: "add a store to a merchant; prints its id", options: [
                .string("merchant", "ID", required: true, help: "the merchant"),
                .string("name", "NAME", required: true, help: "the store's name"),
                .string("currency", "CODE", default: "CNY", help: "the store's currency (ISO 4217)"),
                .string("time-zone", "ZONE", default: "UTC", help: "the store's time zone (IANA), e.g. Asia/Shanghai"),
            ], run: CashierdCommands.storeAdd),
            Command("set", summary: "change a store's settings", options: [
                .string("store", "ID", required: true, help: "the store"),
                .string("time-zone", "ZONE", required: true, help: "the time zone screens and receipts show (IANA), e.g. Asia/Shanghai"),
            ], run: CashierdCommands.storeSet),
            Command("list", summary: "every store: id, merchant, currency, name", options: [
                .flag("json", help: "print one JSON document instead of lines"),
            ], run: CashierdCommands.storeList),
            .group("channel", summary: "which payment codes a store takes, and its merchant settings", [
                Command("set", summary: "let a store take a channel's codes (replaces its settings)",
                        description: "The settings file is the channel's JSON object (docs/CHANNELS.md); it names the files that "
                            + "hold credentials, which must be owner-only. The settings are checked before they are stored.",
                        options: [
                            .string("store", "ID", required: true, help: "the store"),
                            .choice("channel", ChannelKind.allCases.map(\.rawValue), required: true, help: "the channel"),
                            .path("settings", "FILE", help: "the channel's settings (JSON); none for the sandbox"),
                        ], run: CashierdCommands.storeChannelSet),
                Command("list", summary: "a store's channels and their settings", options: [
                    .string("store", "ID", required: true, help: "the store"),
                ], run: CashierdCommands.storeChannelList),
                Command("remove", summary: "stop a store taking a channel's codes", options: [
                    .string("store", "ID", required: true, help: "the store"),
                    .choice("channel", ChannelKind.allCases.map(\.rawValue), required: true, help: "the channel"),
                ], run: CashierdCommands.storeChannelRemove),
            ]),
        ]),
        .group("staff", summary: "a store's staff and their PINs", [
            Command("add", summary: "add a member of staff; prints their id", options: [
                .string("store", "ID", required: true, help: "the store"),
                .string("name", "NAME", required: true, help: "their name"),
                .choice("role", StaffRole.allCases.map(\.rawValue), required: true, help: "a supervisor's PIN approves refunds"),
                .string("pin", "PIN", required: true, help: "4 to 12 digits, different from the store's other PINs"),
            ], run: CashierdCommands.staffAdd),
            Command("list", summary: "a store's staff: id, role, name", options: [
                .string("store", "ID", required: true, help: "the store"),
            ], run: CashierdCommands.staffList),
        ]),
        Command("activation-code", summary: "issue a one-time code that activates a terminal for a store", options: [
            .string("store", "ID", required: true, help: "the store the terminal will belong to"),
            .integer("ttl", "SECONDS", in: 60...(7 * 86_400), default: 600, help: "how long the code is valid"),
        ], run: CashierdCommands.activationCode),
        .group("device", summary: "terminals", [
            Command("list", summary: "every terminal: id, store, active or revoked, name", options: [
                .flag("json", help: "print one JSON document instead of lines"),
            ], run: CashierdCommands.deviceList),
            Command("revoke", summary: "block a (stolen) terminal from its next request on, on every instance",
                    arguments: [.init("DEVICE_ID", help: "the terminal, as `device list` shows it")],
                    run: CashierdCommands.deviceRevoke),
        ]),
        .group("groups", summary: "order groups: list, scale out, scale in", default: "list", [
            Command("list", summary: "order groups, whether each takes new orders, routes of retired tags",
                    run: CashierdCommands.groupsList),
            Command("add", summary: "scale out: a new group takes orders; running instances reload within a second", options: [
                .integer("tag", in: GroupTag.range, required: true, help: "the new group's tag"),
                .string("postgres", "URL", help: "a PostgreSQL database instead of a SQLite file group-NN.sqlite"),
            ], run: CashierdCommands.groupsAdd),
            Command("retire", summary: "scale in: map the tag to tag mod remaining, copy its data there, route it", options: [
                .integer("tag", in: GroupTag.range, required: true, help: "the group to retire"),
            ], run: CashierdCommands.groupsRetire),
            Command("share", summary: "put the groups and routes in the base data, for every instance on every host to follow",
                    description: "Once shared, groups add and groups retire change them there and every instance applies a change within a second; the file's groups are no longer read.",
                    run: CashierdCommands.groupsShare),
        ]),
        .group("channel", summary: "payment channels: signatures and credentials", [
            Command("sign", summary: "print a WeChat Pay signature of k=v lines read on standard input",
                    description: "The string signed (with the key shown as key=***) and the signature, as the provider's own "
                        + "signature tool shows them: for debugging a merchant's set-up. Give the API key in a file (mode 0600) "
                        + "rather than on the command line, where other users can see it.",
                    options: [
                        .choice("channel", ["wechatpay"], required: true, help: "the channel whose signature to make"),
                        .choice("sign-type", ["MD5", "HMAC-SHA256"], default: "MD5", help: "the signature type (WeChat's sign_type)"),
                        .string("key", "KEY", help: "the API key"),
                        .path("key-file", "FILE", help: "a file holding the API key"),
                    ], run: CashierdCommands.channelSign),
            Command("check", summary: "ask each of a store's channels about an order that cannot exist: do its credentials work?",
                    options: [
                        .string("store", "ID", required: true, help: "the store"),
                        .choice("channel", ChannelKind.allCases.map(\.rawValue), help: "only this channel"),
                    ], run: CashierdCommands.channelCheck),
        ]),
        Command("reconcile", summary: "compare a channel's statement of a day with the order data, line by line; 0 only when exact",
                description: "With --channel and --date: the channel's statement of that day (downloaded, or read from --statement "
                    + "FILE) against the orders and refunds of the stores that take the channel, one statement per distinct "
                    + "merchant settings; every line that differs is printed with what to do about it. Payments and refunds "
                    + "still under way are printed but are no mismatch. Without options: the sandbox ledger's whole books "
                    + "against every group. Exits 0 when exact, 1 on a mismatch or when a statement or group cannot be read.",
                options: [
                    .choice("channel", ChannelKind.allCases.map(\.rawValue), help: "the channel whose statement is compared (needs --date)"),
                    .string("date", "YYYY-MM-DD", help: "the statement's day, in the channel's time zone (sandbox UTC; Alipay, WeChat Pay UTC+8)"),
                    .string("store", "ID", help: "only this store: its settings' statement, its orders (default: every store with the channel)"),
                    .path("statement", "FILE", help: "the statement from this file instead of the channel (sandbox: its JSON; Alipay: the zip)"),
                    .flag("json", help: "print one JSON document instead of lines (with --channel)"),
                ],
                run: CashierdCommands.reconcile),
        .group("sandbox", summary: "the sandbox channel as a service of its own, shared by instances on other hosts", [
            Command("serve", summary: "serve the sandbox channel's ledger over HTTP(S) until SIGTERM or SIGINT",
                    description: "Prints `sandbox listening on URL` once it listens. Instances use it with channel.sandbox_url "
                        + "(docs/SANDBOX.md). HTTPS uses the data directory's certificate, as serve does.",
                    options: [
                        .string("listen", "HOST:PORT", repeatable: true, help: "serve HTTPS here (the data directory's certificate)"),
                        .string("plain", "HOST:PORT", repeatable: true, help: "serve plain HTTP here (loopback or a private network)"),
                        .path("ledger", "PATH", default: "channel.sqlite", help: "the ledger (SQLite), relative to the data directory"),
                        .path("secret-file", "FILE", help: "sign requests and answers with this shared secret (owner-only file)"),
                        .integer("confirm-delay-ms", "MS", in: 0...3_600_000, default: 6_000, help: "how long scenario 4's customer takes to confirm"),
                        .integer("slow-delay-ms", "MS", in: 0...600_000, default: 3_000, help: "how long scenario 8's pay takes to answer"),
                        .integer("auto-close-ms", "MS", in: 1...86_400_000, default: 180_000, help: "an unconfirmed payment is closed after this"),
                    ],
                    run: CashierdCommands.sandboxServe),
        ]),
    ],
    footer: """
    exit codes: 0 ok, 1 failure (the message says why),
                2 bad usage (an unknown command or option, a missing or bad value; nothing was done)
    """)
