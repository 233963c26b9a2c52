#include "cshims_curses.h"
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t cashier_curses_active = 0;

/* The character type from the environment; when that locale is not installed (LANG=zh_CN.UTF-8 on a
   minimal image) or is not UTF-8, a UTF-8 one that every glibc system has (C.UTF-8), else en_US.UTF-8:
   without a UTF-8 character type ncursesw draws every wide character as blank. */
static void cashier_choose_locale(void) {
    const char *chosen = setlocale(LC_ALL, "");
    const char *ctype = setlocale(LC_CTYPE, NULL);
    if (chosen != NULL && ctype != NULL && (strstr(ctype, "UTF-8") || strstr(ctype, "utf8") || strstr(ctype, "UTF8"))) return;
    if (setlocale(LC_CTYPE, "C.UTF-8") == NULL) setlocale(LC_CTYPE, "en_US.UTF-8");
}

WINDOW *cashier_curses_start(void) {
    cashier_choose_locale();
    WINDOW *win = initscr();
    if (win == NULL) return NULL;
    cashier_curses_active = 1;
    cbreak();
    noecho();
    nonl();
    keypad(win, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (has_colors()) {
        start_color();
        use_default_colors();
        for (short i = 1; i <= 7; i++) init_pair(i, i, -1);
    }
    return win;
}

void cashier_curses_restore(void) {
    if (!cashier_curses_active) return;
    cashier_curses_active = 0;
    curs_set(1);
    endwin();
}

/// The handlers in place before ours (e.g. the Swift runtime's backtracer), indexed by signal number.
static struct sigaction cashier_curses_previous[65];

static void cashier_curses_on_signal(int sig, siginfo_t *info, void *context) {
    cashier_curses_restore();
    // Let whoever handled the signal before us run (e.g. the Swift backtracer), now that the screen is
    // normal again; then die of the signal with the default action (it is blocked in this handler, so it
    // is delivered as soon as we return), even if that handler returned.
    if (sig > 0 && sig < 65) {
        struct sigaction *previous = &cashier_curses_previous[sig];
        if (previous->sa_flags & SA_SIGINFO) {
            if (previous->sa_sigaction != NULL) previous->sa_sigaction(sig, info, context);
        } else if (previous->sa_handler != SIG_DFL && previous->sa_handler != SIG_IGN && previous->sa_handler != NULL) {
            previous->sa_handler(sig);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cashier_curses_on_exit(void) { cashier_curses_restore(); }

void cashier_curses_install_restore_handlers(void) {
    static int installed = 0;
    if (installed) return;
    installed = 1;
    atexit(cashier_curses_on_exit);
    int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = cashier_curses_on_signal;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(signals[i], &sa, &cashier_curses_previous[signals[i]]);
    }
}

void cashier_curses_size(WINDOW *win, int *rows, int *cols) {
    int r, c;
    getmaxyx(win, r, c);
    *rows = r;
    *cols = c;
}

static uint32_t cashier_curses_special(wint_t code) {
    switch (code) {
    case KEY_UP: return CASHIER_KEY_UP;
    case KEY_DOWN: return CASHIER_KEY_DOWN;
    case KEY_LEFT: return CASHIER_KEY_LEFT;
    case KEY_RIGHT: return CASHIER_KEY_RIGHT;
    case KEY_HOME: return CASHIER_KEY_HOME;
    case KEY_END: return CASHIER_KEY_END;
    case KEY_PPAGE: return CASHIER_KEY_PAGE_UP;
    case KEY_NPAGE: return CASHIER_KEY_PAGE_DOWN;
    case KEY_BACKSPACE: return CASHIER_KEY_BACKSPACE;
    case KEY_DC: return CASHIER_KEY_DELETE;
    case KEY_ENTER: return CASHIER_KEY_ENTER;
    case KEY_RESIZE: return CASHIER_KEY_RESIZE;
    default:
        if (code >= KEY_F(1) && code <= KEY_F(12)) return CASHIER_KEY_F1 + (uint32_t)(code - KEY_F(1));
        return CASHIER_KEY_UNKNOWN;
    }
}

CashierInputKind cashier_curses_read(WINDOW *win, int timeout_ms, uint32_t *value) {
    wtimeout(win, timeout_ms);
    wint_t ch = 0;
    int rc = wget_wch(win, &ch);
    if (rc == KEY_CODE_YES) {
        *value = cashier_curses_special(ch);
        return CASHIER_INPUT_SPECIAL;
    }
    if (rc == OK) {
        *value = (uint32_t)ch;
        return CASHIER_INPUT_CHAR;
    }
    return CASHIER_INPUT_NONE;
}

int cashier_curses_color_count(void) { return has_colors() ? 7 : 0; }
unsigned int cashier_curses_attr_bold(void) { return (unsigned int)A_BOLD; }
unsigned int cashier_curses_attr_reverse(void) { return (unsigned int)A_REVERSE; }
unsigned int cashier_curses_attr_underline(void) { return (unsigned int)A_UNDERLINE; }
unsigned int cashier_curses_attr_dim(void) { return (unsigned int)A_DIM; }

int cashier_curses_put(WINDOW *win, int row, int col, const wchar_t *chars, int count,
                       unsigned int attrs, short color_pair) {
    wchar_t text[CCHARW_MAX + 1];
    int n = count < CCHARW_MAX ? count : CCHARW_MAX;
    for (int i = 0; i < n; i++) text[i] = chars[i];
    text[n] = L'\0';
    cchar_t cell;
    if (setcchar(&cell, text, (attr_t)attrs, color_pair, NULL) != OK) return ERR;
    return mvwadd_wch(win, row, col, &cell);
}

void cashier_curses_clear(WINDOW *win) { clearok(win, TRUE); werase(win); }

void cashier_curses_cursor(WINDOW *win, int row, int col, int visible) {
    curs_set(visible ? 1 : 0);
    if (visible) wmove(win, row, col);
}

void cashier_curses_refresh(WINDOW *win) { wrefresh(win); }
