#!/usr/bin/env bash
# Compile the app's pure-Kotlin core (app/src/main/java/dev/npukit/demo/core, no Android
# imports) with its JUnit tests (app/src/test) on a plain JVM and run them: what can be checked
# of the app without the Android SDK. Needs Java 17+. The Kotlin compiler comes from the npm
# package kotlin-compiler (the JetBrains distribution), JUnit 4 and Android's own org.json from
# Debian's junit4 and libandroid-json-java; each is fetched once if missing.
#
#   bash android_demo/tools/jvm_tests.sh                  # run the tests
#   bash android_demo/tools/jvm_tests.sh --sample-report  # and rewrite sample_device_report.json
#
# Exit status: 0 tests passed, 1 a test failed or the code did not compile, 3 the toolchain
# could not be had (nothing was tested).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
app="$here/app"
kotlin_version="2.4.20"
cache="${NPUKIT_JVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/npukit-jvm}"
build="$here/build/jvm"

unavailable() { echo "jvm tests: toolchain unavailable: $*" >&2; exit 3; }

command -v java >/dev/null || unavailable "no java on PATH"
compiler="${KOTLIN_HOME:-$cache/kotlin-compiler-$kotlin_version}/lib/kotlin-compiler.jar"
if [ ! -f "$compiler" ]; then
    command -v npm >/dev/null || unavailable "no Kotlin compiler and no npm to fetch it"
    mkdir -p "$cache"
    (cd "$cache" && npm pack --silent "kotlin-compiler@$kotlin_version" >/dev/null 2>&1) || unavailable "npm pack kotlin-compiler failed"
    rm -rf "$cache/package" "$cache/kotlin-compiler-$kotlin_version"
    tar -xzf "$cache/kotlin-compiler-$kotlin_version.tgz" -C "$cache"
    mv "$cache/package" "$cache/kotlin-compiler-$kotlin_version"
    rm -f "$cache/kotlin-compiler-$kotlin_version.tgz"
fi
lib="$(dirname "$compiler")"
jars=(/usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar /usr/share/java/com.android.json.jar)
for jar in "${jars[@]}"; do
    if [ ! -f "$jar" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            (apt-get install -y -qq junit4 libandroid-json-java >/dev/null 2>&1 ||
                { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq junit4 libandroid-json-java >/dev/null 2>&1; }) ||
                unavailable "apt-get install junit4 libandroid-json-java failed"
        fi
        [ -f "$jar" ] || unavailable "$jar is missing (Debian: junit4, libandroid-json-java)"
    fi
done
deps="$lib/kotlin-stdlib.jar:$(IFS=:; echo "${jars[*]}")"

rm -rf "$build"
mkdir -p "$build/main" "$build/test"
kotlinc() { java -Xmx1g -cp "$compiler" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler -no-stdlib -no-reflect -jvm-target 17 -nowarn "$@"; }
echo "jvm tests: compiling the core with Kotlin $kotlin_version" >&2
kotlinc -cp "$deps" -d "$build/main" "$app"/src/main/java/dev/npukit/demo/core/*.kt
kotlinc -cp "$deps:$build/main" -d "$build/test" "$app"/src/test/java/dev/npukit/demo/core/*.kt
classes=()
for f in "$app"/src/test/java/dev/npukit/demo/core/*Test.kt; do
    classes+=("dev.npukit.demo.core.$(basename "$f" .kt)")
done
cp="$deps:$build/main:$build/test"
cd "$app"  # the tests read src/main/assets and src/test/resources, as under Gradle
set +e
java -cp "$cp" org.junit.runner.JUnitCore "${classes[@]}" > "$build/junit.log" 2>&1
status=$?
set -e
grep -v '^\s*at org.junit\|^\s*at java.base\|^\s*at jdk.internal' "$build/junit.log" || true
if [ "$status" = 0 ] && [ "${1:-}" = "--sample-report" ]; then
    java -cp "$cp" dev.npukit.demo.core.SampleReportKt "$here/sample_device_report.json" digits_cnn
fi
exit "$status"
