#include <stdio.h>
int main(void) { puts("keybridged: not yet"); return 0; }
