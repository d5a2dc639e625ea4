package dev.npukit.demo

import androidx.compose.foundation.horizontalScroll
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.safeDrawingPadding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.text.font.FontFamily
import androidx.compose.ui.unit.dp
import dev.npukit.demo.core.Accelerator
import dev.npukit.demo.core.ExecutionPreference

/** The single screen: choices on top, then status, errors, the summary and the per-sample list. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun DemoScreen(state: DemoState, onRun: () -> Unit, onBenchmark: () -> Unit) {
    MaterialTheme {
        Surface(modifier = Modifier.fillMaxSize()) {
            // targetSdk 35 draws edge to edge: keep clear of the status and navigation bars
            Column(modifier = Modifier.safeDrawingPadding().padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
                Text("npukit demo", style = MaterialTheme.typography.headlineSmall)
                Text("Model", style = MaterialTheme.typography.labelLarge)
                Row(Modifier.horizontalScroll(rememberScrollState()), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    for (name in state.bundles) {
                        FilterChip(selected = state.selected == name, onClick = { state.selected = name }, label = { Text(name) }, enabled = !state.running)
                    }
                }
                Text("Accelerator", style = MaterialTheme.typography.labelLarge)
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    for (a in Accelerator.values()) {
                        val usable = a != Accelerator.GPU || state.gpuSupported
                        FilterChip(
                            selected = state.accelerator == a, onClick = { state.accelerator = a }, enabled = usable && !state.running,
                            label = { Text(if (usable) a.label else "${a.label}: not supported") },
                        )
                    }
                }
                if (state.accelerator == Accelerator.NNAPI) {
                    Row(Modifier.horizontalScroll(rememberScrollState()), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                        for (p in ExecutionPreference.values()) {
                            FilterChip(selected = state.preference == p, onClick = { state.preference = p }, label = { Text(p.label) }, enabled = !state.running)
                        }
                    }
                }
                Row(verticalAlignment = Alignment.CenterVertically, horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Text("CPU threads: ${state.threads}")
                    OutlinedButton(onClick = { state.threads = maxOf(1, state.threads - 1) }, enabled = !state.running) { Text("-") }
                    OutlinedButton(onClick = { state.threads = minOf(16, state.threads + 1) }, enabled = !state.running) { Text("+") }
                }
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    Button(onClick = onRun, enabled = !state.running && state.selected != null) { Text("Run samples") }
                    Button(onClick = onBenchmark, enabled = !state.running && state.selected != null) { Text("Benchmark") }
                }
                if (state.running) {
                    LinearProgressIndicator(
                        progress = { if (state.total > 0) state.progress.toFloat() / state.total else 0f },
                        modifier = Modifier.fillMaxWidth(),
                    )
                    Text(state.status)
                }
                state.delegateMessage?.let { Text(it, color = Color(0xFFB26A00)) }
                state.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
                for (line in state.summary) Text(line, style = MaterialTheme.typography.bodyMedium)
                LazyColumn(modifier = Modifier.weight(1f), verticalArrangement = Arrangement.spacedBy(2.dp)) {
                    items(state.rows, key = { it.index }) { row ->
                        val mark = when (row.correct) {
                            true -> "ok"
                            false -> "WRONG"
                            null -> ""
                        }
                        val host = if (row.agreesWithHost) "" else "  (host differs)"
                        Text(
                            "#%-4d label %-3s -> %-3s %-5s %.3f ms%s".format(row.index, row.label, row.predicted, mark, row.ms, host),
                            fontFamily = FontFamily.Monospace,
                            style = MaterialTheme.typography.bodySmall,
                        )
                    }
                }
            }
        }
    }
}
