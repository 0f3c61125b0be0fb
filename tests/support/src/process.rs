//! A program of the workspace run as its user runs it: a child process whose standard output
//! is read line by line, whose standard error is kept for failure messages, and which is killed
//! when the test ends.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A running program, killed on drop.
pub struct Program {
    child: Child,
    /// `None` once [`Program::drain_stdout`] took it.
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    stderr: Arc<Mutex<String>>,
}

impl Program {
    /// Starts `binary` with `args` and `env` (on top of this process's environment), its
    /// standard input closed.
    pub fn start(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Program {
        let mut child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {binary}: {error}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Program {
            child,
            stdout: Some(stdout),
            stderr,
        }
    }

    /// The lines the program prints until one satisfies `last` (included), within 30 s;
    /// panics with what it printed otherwise, or after [`Program::drain_stdout`].
    pub async fn lines_until(&mut self, last: impl Fn(&str) -> bool) -> Vec<String> {
        let mut lines = Vec::new();
        let stdout = self.stdout.as_mut().expect("stdout is still read here");
        let read = async {
            while let Some(line) = stdout.next_line().await.unwrap() {
                let done = last(&line);
                lines.push(line);
                if done {
                    return true;
                }
            }
            false
        };
        match tokio::time::timeout(Duration::from_secs(30), read).await {
            Ok(true) => lines,
            _ => panic!(
                "the program did not print the expected line; stdout: {lines:?}\nstderr: {}",
                self.stderr()
            ),
        }
    }

    /// Reads and drops whatever else the program prints, so that it never blocks on a full
    /// pipe.
    pub fn drain_stdout(&mut self) {
        if let Some(mut lines) = self.stdout.take() {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        }
    }

    /// What the program wrote to its standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The child process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }
}
