import CashierCore
import CashierTUI

/// `cashier`'s whole command line. Parsing, every `--help`, the usage and `cashier completion bash` are
/// made from this one value; each command's implementation (Commands.swift) gets the typed values.
///
/// To add a command: one `Command(...)` here with its options (their types, defaults and help; `json` if
/// it has a JSON form) and `run: withEngine { $0.yourCommand() }`, and `func yourCommand() -> Int32` in an
/// extension of `Commands`. docs/CLIENT.md's command block is `cashier --help`; `CLITests` fails until it
/// is pasted in.
let commandTable = CommandTable(
    program: "cashier",
    summary: "the cashier terminal: with no command the front end, else one command and its exit code",
    globalOptions: [
        .path("config", defaultText: "$CASHIER_CONFIG, else $XDG_CONFIG_HOME/cashier/config.json",
              help: "the configuration"),
    ],
    options: [
        .flag("headless", help: "JSON commands on stdin, JSON events on stdout (docs/HEADLESS.md)"),
    ] + frontEndOptions,
    run: frontEnd,
    commands: [
        Command("activate", summary: "activate this terminal; the device key goes to the keystore (mode 0600)",
                options: [
                    .string("code", "CODE", help: "the activation code, instead of CODE"),
                    .string("name", "NAME", help: "what the service's device list calls this terminal"),
                    jsonOption,
                ],
                arguments: [.init("CODE", or: "code", help: "the activation code from `cashierd activation-code`")],
                run: withEngine { try $0.activate() }),
        Command("status", summary: "domains, latencies, active domain, device, unfinished sales",
                options: [jsonOption], run: withEngine { $0.status() }),
        Command("pay", summary: "take a payment: create the order, pay, wait, reverse at the deadline",
                description: "Prints each phase as it happens. The amount may be left out when --items gives the lines.",
                options: [
                    .amount("amount", help: "the amount, e.g. 12.34"),
                    .string("code", "PAYCODE", required: true, help: "the customer's payment code"),
                    .string("items", "JSON", help: "the order's lines: a JSON array of {name, quantity, unit_price[, sku]}"),
                    saleOption,
                    jsonOption,
                ],
                run: withEngine { try $0.pay() }),
        Command("cash", summary: "take a cash sale: recorded at once, or kept offline and sent when the service is back",
                description: "The drawer opens with the receipt (ESC/POS). The amount may be left out when --items gives the lines.",
                options: [
                    .amount("amount", help: "the total, e.g. 12.34"),
                    .amount("given", help: "the cash the customer handed over (default: exactly the total); the change is printed"),
                    .string("items", "JSON", help: "the order's lines: a JSON array of {name, quantity, unit_price[, sku]}"),
                    saleOption,
                    jsonOption,
                ],
                run: withEngine { try $0.cash() }),
        Command("refund", summary: "refund part or all of a paid order; a retry with the same --ref refunds once",
                options: [
                    .string("order", "N", required: true, help: "the order number as printed on the receipt"),
                    .amount("amount", required: true, help: "the amount to refund, e.g. 2.00"),
                    .string("pin", "PIN", required: true, help: "a supervisor's PIN"),
                    .string("ref", "R", help: "the refund's reference; a retry with the same one refunds only once"),
                    jsonOption,
                ],
                run: withEngine { try $0.refund() }),
        Command("orders", summary: "the store's orders, newest first, one page; prints the cursor of the next",
                options: [
                    .integer("limit", in: 1...200, default: 20, help: "orders on the page"),
                    .string("cursor", "C", help: "where the page starts, as the last page printed"),
                    jsonOption,
                ],
                run: withEngine { try $0.orders() }),
        Command("order", summary: "one order, its lines and refunds",
                options: [.string("order", "N", help: "the order number, instead of ORDER_NO"), jsonOption],
                arguments: [.init("ORDER_NO", or: "order", help: "the order number as printed on the receipt")],
                run: withEngine { try $0.order() }),
        Command("sign-in", summary: "sign a cashier or supervisor in at this terminal with their staff PIN",
                description: "The service checks the PIN; wrong PINs count against the terminal as for refunds.",
                options: [.string("pin", "PIN", required: true, help: "the staff PIN"), jsonOption],
                run: withEngine { try $0.signIn() }),
        Command("sign-out", summary: "sign out whoever is signed in at this terminal",
                options: [jsonOption], run: withEngine { $0.signOut() }),
        Command("shift-open", summary: "open a shift at this terminal with the float counted into the drawer",
                description: "Needs someone signed in (`cashier sign-in`); one shift at a time per terminal.",
                options: [.amount("float", required: true, zeroAllowed: true, help: "the opening float, e.g. 200.00"), jsonOption],
                run: withEngine { try $0.shiftOpen() }),
        Command("shift-report", summary: "the X report of the shift open here (running totals), or any shift's report",
                options: [
                    .string("shift", "ID", help: "a shift of this store (a closed one shows its Z report)"),
                    .flag("print", help: "also print it on the receipt printer"),
                    jsonOption,
                ],
                run: withEngine { $0.shiftReport() }),
        Command("shift-close", summary: "close the shift with the counted cash and print its numbered Z report",
                description: "Cash sales waiting to be sent go first; a difference over the store's limit needs a supervisor.",
                options: [
                    .amount("counted", required: true, zeroAllowed: true, help: "all the cash in the drawer, float included"),
                    .string("supervisor-pin", "PIN", help: "a supervisor's PIN, when the difference is over the limit"),
                    jsonOption,
                ],
                run: withEngine { try $0.shiftClose() }),
        Command("receipt", summary: "print a receipt again, marked COPY: the last one printed, or ORDER_NO's",
                options: [.string("order", "N", help: "the order number, instead of ORDER_NO"), jsonOption],
                arguments: [.init("ORDER_NO", required: false, or: "order", help: "the order number as printed on the receipt")],
                run: withEngine { $0.receipt() }),
        Command("resume", summary: "finish sales left unfinished by a crash (query, never pay again)",
                options: [jsonOption], run: withEngine { $0.resumeCommand() }),
        Command("rotate-key", summary: "replace this terminal's key pair; the old key stops working at once",
                description: "Signed with the current key; a lost answer is settled by the next command (docs/CLIENT.md).",
                options: [jsonOption], run: withEngine { Commands.rotateKey($0.engine, json: $0.json) }),
        Command("tui", summary: "the terminal front end (the same as no command)",
                options: frontEndOptions, run: frontEnd),
    ],
    footer: """
    exit codes: 0 ok/paid, 2 bad input (also an unknown command or option, a missing or bad value), 3 declined,
                4 not paid, 5 service unreachable, 6 refused by the service, 7 needs attention,
                8 not activated / configuration / keystore problem
    """)

/// `--sale REF`: the parts of a split sale (some by code, the rest in cash) are orders sharing this reference.
let saleOption = Option.string("sale", "REF", help: "the sale's own reference; the parts of a split sale share it (their client_ref)")

/// `--json`: one JSON object on stdout (errors as `{"code","message","detail","retryable","exit_code"}`).
let jsonOption = Option.flag("json", help: "print one JSON object instead of lines")

/// The front end's options (with no command, and `tui`).
let frontEndOptions: [Option] = [
    .string("script", "KEYS", allowsEmpty: true, help: "drive the screens from a key script on an 80x24 buffer, e.g. '12.34<Enter>'"),
    .flag("dump-screen", help: "with --script: print the final screen"),
    .choice("lang", Language.allCases.map(\.rawValue), help: "the screens' language (default from CASHIER_LANG, LC_ALL, LANG)"),
]
