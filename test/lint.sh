#!/bin/sh
# lint.sh - the mechanical checks of samsa's documentation and exports.
#
# Usage, from the top directory:  sh test/lint.sh build/libsamsa.so.0.1
#
#   a) mandoc -T lint -W warning prints nothing for any man page;
#   b) the shared library exports only samsa_* symbols (and at least one),
#      and every SAMSA_API function of include/samsa.h among them;
#   c) every exported function, and every SAMSA_API function of samsa.h, has
#      man/man3/<name>.3;
#   d) every cross-reference to section 1, 3 or 7 (".BR name (3)", and the
#      inline form "\fBsamsa_...\fR(3)" used in tables) resolves to a page;
#   e) every SAMSA_E* code of SAMSA_ERRNO_MAP appears in man/man7/samsa.7;
#   f) each ```c block of README compiles on its own; one with main() also
#      links against the static library next to LIB;
#   g) each program in the EXAMPLES section of a man page compiles and links
#      the same way;
#   h) the static library defines only samsa_* globals too, and a program
#      that defines functions named as samsa's internal ones (log_open,
#      catalog_open, crc32c...) links against it and runs;
#   i) the layers of lib/ go one way: a file of lib/F includes only headers
#      of F (by bare name) and of the folders below F ("G/name.h"), and its
#      object calls only functions defined in F, below F, or outside samsa;
#      lib/tool (the samsa command) is the top and sees only the public
#      API: no header of another folder, no call but SAMSA_API functions;
#   j) the tests fork with test_fork() (test/util.c), never fork() itself,
#      so that the helpers that assert know when they run in a child
#      (test/test.h says why a child must not assert).
#
# Every check runs; each failure prints a line starting "lint: FAIL:", and
# the script exits 1 if there was any.
#
# Two conventions the checks rely on:
#  - A function documented on another function's page has a symlink to it
#    (as mandoc recommends over .so, which only resolves from man/).
#  - Pages outside samsa (errno(3), attributes(7)) are referred to inline,
#    as \fBattributes\fR(7), which check d leaves alone; .BR is for samsa's
#    own pages.

set -u

if [ $# -ne 1 ]; then
    echo "usage: sh test/lint.sh build/libsamsa.so.MAJOR.MINOR" >&2
    exit 2
fi
lib=$1
if [ ! -f include/samsa.h ] || [ ! -d man ]; then
    echo "lint: run me from the top directory of samsa" >&2
    exit 2
fi

CC=${CC:-cc}
CFLAGS_LINT="-std=c11 -Wall -Wextra -Werror -Iinclude"
static_lib=$(dirname "$lib")/libsamsa.a
# What a program linking libsamsa.a needs: the Makefile's LDLIBS_LIB.
static_libs=${SAMSA_LIBS:?"SAMSA_LIBS: run me through make lint"}
failed=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/samsa-lint.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM

fail() {
    echo "lint: FAIL: $*" >&2
    failed=1
}

# The SAMSA_API functions of the public header, one a line.
sed -n 's/^SAMSA_API[^(]*[ *]\(samsa_[A-Za-z0-9_]*\)(.*/\1/p' \
    include/samsa.h | sort -u > "$tmp/header_funcs"

# ---- a) man pages clean under mandoc ---------------------------------------

check_manpages() {
    if ! command -v mandoc >/dev/null 2>&1; then
        fail "mandoc not found; install it: sudo apt-get install -y mandoc"
        return
    fi
    n=0
    bad=0
    for page in man/man1/*.1 man/man3/*.3 man/man7/*.7; do
        [ -f "$page" ] || continue
        n=$((n + 1))
        rel=${page#man/}
        if [ -L "$page" ] && [ ! -e "$page" ]; then
            fail "$page: a link to a page that does not exist"
            bad=1
            continue
        fi
        if head -n 1 "$page" | grep -q '^\.so '; then
            fail "$page: a .so page (mandoc cannot resolve it from every directory); make it a symlink"
            bad=1
            continue
        fi
        out=$(cd man && mandoc -T lint -W warning "$rel" 2>&1)
        if [ -n "$out" ]; then
            fail "mandoc -T lint -W warning $page:"
            printf '%s\n' "$out" | sed 's/^/    /' >&2
            bad=1
        fi
    done
    if [ "$n" -eq 0 ]; then
        fail "no man pages under man/man1, man/man3 and man/man7"
    elif [ "$bad" -eq 0 ]; then
        echo "lint: man pages clean ($n pages)"
    fi
}

# ---- b) exports: only samsa_*, and all of the header's ------------------------

check_exports() {
    if [ ! -f "$lib" ]; then
        fail "$lib: no such file (build it first: make all)"
        return
    fi
    if ! nm -D --defined-only "$lib" > "$tmp/nm" 2> "$tmp/nm.err"; then
        fail "nm -D --defined-only $lib failed: $(cat "$tmp/nm.err")"
        return
    fi
    # "ADDRESS TYPE NAME"; drop symbol versions (@VER, @@VER), version
    # nodes (type A), and the linker's own _edata/_end/__bss_start, which
    # older GNU ld puts in every shared library.
    awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $2, $3 }' \
        "$tmp/nm" |
        grep -Ev ' (_edata|_end|__bss_start)$' | sort -u -k2 > "$tmp/syms"
    n=$(wc -l < "$tmp/syms")
    bad=0
    if [ "$n" -eq 0 ]; then
        fail "$lib exports no symbols at all"
        return
    fi
    while read -r type name; do
        case $name in
        samsa__*)
            fail "$lib exports the internal symbol $name ($type): mark it static or keep it hidden"
            bad=1 ;;
        samsa_*) ;;
        *)
            fail "$lib exports $name ($type): only samsa_* may be exported"
            bad=1 ;;
        esac
    done < "$tmp/syms"
    awk '$1 ~ /^[TWi]$/ { print $2 }' "$tmp/syms" > "$tmp/funcs"
    while read -r f; do
        if ! grep -qx "$f" "$tmp/funcs"; then
            fail "$f is declared SAMSA_API in include/samsa.h but $lib does not export it"
            bad=1
        fi
    done < "$tmp/header_funcs"
    [ "$bad" -eq 0 ] && echo "lint: exports are samsa_* only ($n symbols)"
}

# ---- c) every function has a page -------------------------------------------

check_pages() {
    : > "$tmp/funcs"
    [ -f "$tmp/syms" ] && awk '$1 ~ /^[TWi]$/ { print $2 }' "$tmp/syms" \
        > "$tmp/funcs"
    sort -u "$tmp/funcs" "$tmp/header_funcs" > "$tmp/allfuncs"
    n=0
    bad=0
    while read -r f; do
        # Other names fail check b; internal ones must not be exported.
        case $f in samsa__*) continue ;; samsa_*) ;; *) continue ;; esac
        n=$((n + 1))
        if [ ! -f "man/man3/$f.3" ]; then
            fail "$f has no man page man/man3/$f.3"
            bad=1
        fi
    done < "$tmp/allfuncs"
    if [ "$n" -eq 0 ]; then
        fail "found no functions (in $lib or include/samsa.h)"
    elif [ "$bad" -eq 0 ]; then
        echo "lint: every function has a page ($n functions)"
    fi
}

# ---- d) cross-references resolve ---------------------------------------------

check_xrefs() {
    : > "$tmp/refs"
    for page in man/man1/*.1 man/man3/*.3 man/man7/*.7; do
        [ -f "$page" ] || continue
        # .BR name (1), (3) and (7),
        sed -n 's/^\.BR  *\([^ ]*\)  *(\([137]\)).*/\1 \2/p' "$page" |
            sed 's/\\-/-/g' | while read -r name sec; do
            echo "$page $name $sec"
        done >> "$tmp/refs"
        # inline \fBsamsa...\fR(3), as in tables
        grep -o '\\fB[A-Za-z0-9_]*\\f[RP](\([37]\))' "$page" |
            sed 's/^\\fB\([A-Za-z0-9_]*\)\\f[RP](\([37]\))$/\1 \2/' |
            while read -r name sec; do
                case $name in samsa*) echo "$page $name $sec" ;; esac
            done >> "$tmp/refs"
    done
    sort -u "$tmp/refs" > "$tmp/refs.u"
    n=$(wc -l < "$tmp/refs.u")
    bad=0
    while read -r page name sec; do
        if [ ! -f "man/man$sec/$name.$sec" ]; then
            fail "$page refers to $name($sec), but man/man$sec/$name.$sec does not exist"
            bad=1
        fi
    done < "$tmp/refs.u"
    [ "$bad" -eq 0 ] && echo "lint: cross-references resolve ($n references)"
}

# ---- e) samsa(7) lists every error code ---------------------------------------

check_errors() {
    sed -n '/^#define SAMSA_ERRNO_MAP/,/[^\\]$/p' include/samsa.h |
        sed -n 's/.*XX(\([A-Z0-9_]*\),.*/SAMSA_\1/p' > "$tmp/codes"
    n=$(wc -l < "$tmp/codes")
    if [ "$n" -eq 0 ]; then
        fail "found no codes in SAMSA_ERRNO_MAP of include/samsa.h"
        return
    fi
    if [ ! -f man/man7/samsa.7 ]; then
        fail "man/man7/samsa.7 does not exist"
        return
    fi
    bad=0
    while read -r code; do
        if ! grep -qw "$code" man/man7/samsa.7; then
            fail "$code (SAMSA_ERRNO_MAP) is not in the error table of man/man7/samsa.7"
            bad=1
        fi
    done < "$tmp/codes"
    [ "$bad" -eq 0 ] && echo "lint: samsa(7) lists every error code ($n codes)"
}

# ---- f, g) code compiles ------------------------------------------------------

# is_program FILE: does the C file define main()?
is_program() {
    grep -Eq '^(int[[:space:]]+)?main[[:space:]]*\(' "$1"
}

# compile_block FILE WHERE: compile one translation unit; a whole program
# (with main) is linked too.  Sets "linked" to 1 when it linked.
compile_block() {
    linked=0
    # shellcheck disable=SC2086 # CFLAGS_LINT is several words
    if ! $CC $CFLAGS_LINT -c "$1" -o "$1.o" > "$1.err" 2>&1; then
        fail "$2 does not compile ($CC $CFLAGS_LINT -c):"
        sed 's/^/    /' "$1.err" >&2
        return 1
    fi
    is_program "$1" || return 0
    if [ ! -f "$static_lib" ]; then
        fail "$2 is a program, but $static_lib is missing to link it (make all)"
        return 1
    fi
    # shellcheck disable=SC2046 # pkg-config prints several words
    # shellcheck disable=SC2086 # several words
    if ! $CC -o "$1.bin" "$1.o" "$static_lib" $static_libs > "$1.err" 2>&1; then
        fail "$2 does not link against $static_lib:"
        sed 's/^/    /' "$1.err" >&2
        return 1
    fi
    linked=1
}

check_readme() {
    if [ ! -f README ]; then
        fail "README does not exist"
        return
    fi
    mkdir -p "$tmp/readme"
    # Each block to readme/N.c, and "N LINE" to readme/index.
    if ! awk -v dir="$tmp/readme" '
        /^```c[ \t]*$/ && !inb {
            inb = 1; n++; f = dir "/" n ".c"; printf "" > f
            print n, NR + 1 > (dir "/index"); next
        }
        /^```[ \t]*$/ && inb { inb = 0; close(f); next }
        inb { print > f }
        END { if (inb) { print "README: unterminated ```c block" > "/dev/stderr"; exit 1 } }
    ' README; then
        fail "README: a \`\`\`c block has no closing \`\`\`"
        return
    fi
    [ -f "$tmp/readme/index" ] || { echo "lint: README has no C code blocks"; return; }
    n=0
    nl=0
    bad=0
    while read -r i line; do
        n=$((n + 1))
        if compile_block "$tmp/readme/$i.c" "README code block at line $line"; then
            nl=$((nl + linked))
        else
            bad=1
        fi
    done < "$tmp/readme/index"
    [ "$bad" -eq 0 ] &&
        echo "lint: README code blocks compile ($n blocks, $nl programs linked)"
}

check_man_examples() {
    mkdir -p "$tmp/ex"
    n=0
    bad=0
    for page in man/man3/*.3 man/man7/*.7; do
        [ -f "$page" ] || continue
        base=$(basename "$page")
        # The .EX/.EE blocks of the EXAMPLES section, roff escapes undone
        # (\e is a backslash; \001 stands in for it until tr).
        awk -v dir="$tmp/ex" -v base="$base" '
            /^\.SH/ { inex = ($0 ~ /^\.SH "?EXAMPLES?"?[ \t]*$/); next }
            inex && /^\.EX/ { inb = 1; k++; f = dir "/" base "." k ".c"; printf "" > f; next }
            inb && /^\.EE/ { inb = 0; close(f); next }
            inb {
                s = $0
                gsub(/\\e/, "\001", s)
                gsub(/\\-/, "-", s)
                gsub(/\\&/, "", s)
                gsub(/\\\(aq/, "\047", s)
                gsub(/\\\(dq/, "\"", s)
                print s > f
            }
        ' "$page"
        for raw in "$tmp/ex/$base".*.c; do
            [ -f "$raw" ] || continue
            is_program "$raw" || continue
            src=${raw%.c}.src.c
            # shellcheck disable=SC1003 # '\\' is tr's backslash
            tr '\001' '\\' < "$raw" > "$src"
            n=$((n + 1))
            compile_block "$src" "the EXAMPLES program of $page" || bad=1
        done
    done
    [ "$bad" -eq 0 ] && echo "lint: man page examples compile ($n programs)"
}

# ---- h) the static library hides its internals -------------------------------

check_static() {
    if ! nm -g --defined-only "$static_lib" > "$tmp/snm" 2> "$tmp/snm.err"; then
        fail "nm -g --defined-only $static_lib failed: $(cat "$tmp/snm.err")"
        return
    fi
    bad=0
    n=0
    # "ADDRESS TYPE NAME" lines; member headers ("x.o:") and blanks have
    # fewer fields.
    awk 'NF == 3 { print $3 }' "$tmp/snm" > "$tmp/snames"
    while read -r name; do
        n=$((n + 1))
        case $name in
        samsa__*) fail "$static_lib defines the internal global $name"; bad=1 ;;
        samsa_*) ;;
        *) fail "$static_lib defines the global $name: only samsa_* may be"; bad=1 ;;
        esac
    done < "$tmp/snames"
    # Every internal function name of the library, defined again here.
    nm --defined-only "$(dirname "$lib")/libsamsa-internal.a" 2> /dev/null |
        awk 'NF == 3 && $2 == "T" && $3 !~ /^samsa_/ { print $3 }' |
        sort -u > "$tmp/internal"
    if [ ! -s "$tmp/internal" ]; then
        fail "no internal functions found in libsamsa-internal.a (build it: make all)"
        return
    fi
    {
        echo '#include <stdio.h>'
        echo '#include <samsa.h>'
        while read -r f; do echo "int $f(void); int $f(void) { return 7; }"; done \
            < "$tmp/internal"
        echo 'int main(void) {'
        echo '    samsa *s = NULL;'
        echo '    int rc = samsa_open("", NULL, &s);'
        while read -r f; do echo "    rc += $f() - 7;"; done < "$tmp/internal"
        echo '    puts(samsa_strerror(SAMSA_EINVAL));'
        echo '    return rc == SAMSA_EINVAL ? 0 : 1;'
        echo '}'
    } > "$tmp/clash.c"
    k=$(wc -l < "$tmp/internal")
    if ! $CC -std=c11 -Iinclude -o "$tmp/clash" "$tmp/clash.c" "$static_lib" \
        $static_libs > "$tmp/clash.err" 2>&1; then
        fail "a program defining samsa's $k internal function names does not link against $static_lib: $(head -5 "$tmp/clash.err")"
        bad=1
    elif ! "$tmp/clash" > /dev/null; then
        fail "a program defining samsa's internal function names links against $static_lib but misbehaves"
        bad=1
    fi
    [ "$bad" -eq 0 ] &&
        echo "lint: $static_lib: samsa_* globals only ($n), and a program defining its $k internal function names links and runs"
}

# ---- i) the layers go one way ---------------------------------------------------

# The folders of lib/, lowest first; folders on one line are peers, which
# may not include or call each other.  lib/*.c (the top of the library)
# may use any; lib/tool, the command, is above it and uses the public API
# only (TOP_LAYER below).  lib/bridge, the Kafka bridge (libsamsa-kafka,
# include/samsa_kafka.h), sits below the command and likewise uses the
# public API only (API_LAYERS).
LAYERS="util
storage
catalog
replica
store
client
group queue
listener
bridge
tool"
TOP_LAYER=tool
API_LAYERS="bridge tool"
api_only() {
    case " $API_LAYERS " in *" $1 "*) return 0 ;; esac
    return 1
}

layer_rank() {
    echo "$LAYERS" | awk -v f="$1" '{ for (i = 1; i <= NF; i++) if ($i == f) { print NR; exit } }'
}

check_layers() {
    # What the API layers may call: samsa.h's functions and the bridge's.
    sed -n 's/^SAMSA_API[^(]*[ *]\(samsa_[A-Za-z0-9_]*\)(.*/\1/p' \
        include/samsa_kafka.h | sort -u - "$tmp/header_funcs" > "$tmp/api_funcs"
    bad=0
    nf=0
    for src in lib/*/*.c lib/*/*.h; do
        nf=$((nf + 1))
        f=$(basename "$(dirname "$src")")
        rf=$(layer_rank "$f")
        if [ -z "$rf" ]; then
            fail "$src: lib/$f is not a layer of test/lint.sh's LAYERS"
            bad=1
            continue
        fi
        for inc in $(sed -n 's/^#include "\(.*\)"/\1/p' "$src"); do
            case $inc in
            samsa.h | samsa_kafka.h) ;;
            */*)
                g=${inc%%/*}
                if api_only "$f"; then
                    fail "$src includes \"$inc\": lib/$f uses the public API only (samsa.h)"
                    bad=1
                    continue
                fi
                rg=$(layer_rank "$g")
                if [ ! -f "lib/$inc" ]; then
                    fail "$src includes \"$inc\", which is not a header of lib/"
                    bad=1
                elif [ "$g" = "$f" ]; then
                    fail "$src includes \"$inc\": a header of its own folder goes by its bare name"
                    bad=1
                elif [ "$rg" -ge "$rf" ]; then
                    fail "$src (layer $f) includes \"$inc\" of layer $g, which is not below it"
                    bad=1
                fi ;;
            *)
                if [ ! -f "lib/$f/$inc" ]; then
                    fail "$src includes \"$inc\", not a header of lib/$f (name another folder's as \"folder/$inc\")"
                    bad=1
                fi ;;
            esac
        done
    done
    # Calls: each object's undefined symbols that samsa defines must be
    # defined in its own folder or one below.
    obj=$(dirname "$lib")/obj
    nm --defined-only "$obj"/*/*.o 2> /dev/null | awk '
        /:$/ { split($0, a, "/"); folder = a[length(a) - 1]; next }
        NF == 3 && $2 ~ /[TDBR]/ { print $3, folder }' > "$tmp/defs"
    if [ ! -s "$tmp/defs" ]; then
        fail "no objects under $obj (build them: make all)"
        return
    fi
    for o in "$obj"/*/*.o; do
        f=$(basename "$(dirname "$o")")
        rf=$(layer_rank "$f")
        for sym in $(nm --undefined-only "$o" | awk '{ print $2 }'); do
            g=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$tmp/defs")
            [ -n "$g" ] || continue
            rg=$(layer_rank "$g")
            if [ "$g" != "$f" ] && [ "$rg" -ge "$rf" ]; then
                fail "$o (layer $f) calls $sym of layer $g, which is not below it"
                bad=1
            elif api_only "$f" && [ "$g" != "$f" ] &&
                ! grep -qx "$sym" "$tmp/api_funcs"; then
                fail "$o (lib/$f) calls $sym of layer $g, which is not a SAMSA_API function of samsa.h"
                bad=1
            fi
        done
    done
    [ "$bad" -eq 0 ] && echo "lint: the layers of lib/ go one way ($nf files; includes and calls)"
}

# ---- j) tests fork with test_fork() ---------------------------------------------

check_test_forks() {
    n=0
    bad=0
    for src in test/*.c; do
        [ "$src" = test/util.c ] && continue # defines test_fork()
        n=$((n + 1))
        # Calls of fork(), on lines that are not comments.
        grep -nE '(^|[^_[:alnum:]])fork[[:space:]]*\(' "$src" |
            grep -vE '^[0-9]+:[[:space:]]*(/?\*|//)' > "$tmp/forks"
        while IFS=: read -r line _; do
            fail "$src:$line calls fork(): use test_fork() (test/test.h says why)"
            bad=1
        done < "$tmp/forks"
    done
    [ "$bad" -eq 0 ] && echo "lint: the tests fork with test_fork() ($n files)"
}

check_manpages
check_exports
check_static
check_layers
check_pages
check_xrefs
check_errors
check_readme
check_man_examples
check_test_forks

if [ "$failed" -ne 0 ]; then
    echo "lint: FAILED" >&2
    exit 1
fi
echo "lint: all checks passed"
