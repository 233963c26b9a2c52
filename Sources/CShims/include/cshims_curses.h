#ifndef CASHIER_CSHIMS_CURSES_H
#define CASHIER_CSHIMS_CURSES_H
/// Placeholder: ncurses wrappers are added with the Terminal module.
#endif
