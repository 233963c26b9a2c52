#ifndef CASHIER_CSHIMS_CURSES_H
#define CASHIER_CSHIMS_CURSES_H
/// Typed wrappers for the ncursesw macros and wide-character calls the Terminal module uses.
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <stdint.h>
#include <wchar.h>
#include <ncursesw/ncurses.h>

/// What one read from the keyboard produced.
typedef enum {
    CASHIER_INPUT_NONE = 0,     ///< Timed out, nothing typed.
    CASHIER_INPUT_CHAR = 1,     ///< A character; value is its Unicode scalar (control characters included).
    CASHIER_INPUT_SPECIAL = 2,  ///< A function or cursor key; value is a CashierSpecialKey.
} CashierInputKind;

/// Function and cursor keys, translated from ncurses KEY_* codes.
typedef enum {
    CASHIER_KEY_UNKNOWN = 0,
    CASHIER_KEY_UP, CASHIER_KEY_DOWN, CASHIER_KEY_LEFT, CASHIER_KEY_RIGHT,
    CASHIER_KEY_HOME, CASHIER_KEY_END, CASHIER_KEY_PAGE_UP, CASHIER_KEY_PAGE_DOWN,
    CASHIER_KEY_BACKSPACE, CASHIER_KEY_DELETE, CASHIER_KEY_ENTER, CASHIER_KEY_RESIZE,
    CASHIER_KEY_F1 = 100 ///< F1...F12 are CASHIER_KEY_F1 + n - 1.
} CashierSpecialKey;

/// Sets the locale from the environment (must precede initscr for wide characters), starts curses in
/// cbreak/noecho/keypad mode with a short Escape delay and colors, and returns the standard window.
WINDOW *cashier_curses_start(void);
/// Ends curses once; safe to call repeatedly and from the exit/signal paths.
void cashier_curses_restore(void);
/// Registers cashier_curses_restore with atexit and for SIGINT, SIGTERM, SIGHUP, SIGQUIT and crash
/// signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP). The handler in place before (e.g. the
/// Swift runtime's backtracer) is then called, and the process dies of the signal.
void cashier_curses_install_restore_handlers(void);
/// Rows and columns of a window (the getmaxyx macro).
void cashier_curses_size(WINDOW *win, int *rows, int *cols);
/// Waits up to timeout_ms (negative: forever, 0: not at all) for one key.
CashierInputKind cashier_curses_read(WINDOW *win, int timeout_ms, uint32_t *value);
/// Color pair numbers 1...7 are set up as the seven curses colors on the default background.
int cashier_curses_color_count(void);
/// Attribute bits, for cashier_curses_put.
unsigned int cashier_curses_attr_bold(void);
unsigned int cashier_curses_attr_reverse(void);
unsigned int cashier_curses_attr_underline(void);
unsigned int cashier_curses_attr_dim(void);
/// Draws one character cell (a base character plus up to four combining marks) at (row, col).
int cashier_curses_put(WINDOW *win, int row, int col, const wchar_t *chars, int count,
                       unsigned int attrs, short color_pair);
/// Clears the whole window on the next refresh (after a resize).
void cashier_curses_clear(WINDOW *win);
/// Moves the cursor and shows or hides it.
void cashier_curses_cursor(WINDOW *win, int row, int col, int visible);
/// Sends pending changes to the terminal.
void cashier_curses_refresh(WINDOW *win);
#endif
