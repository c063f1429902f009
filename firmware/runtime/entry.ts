/**
 * Entry module of the single executable: install the embedded runtime, then run the CLI.
 * ES modules run in import order, so the runtime exists before any tiercast code runs.
 */
import "./install.js";
import "../../cli/main.js";
