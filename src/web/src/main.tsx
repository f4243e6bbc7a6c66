import { render } from "preact";
import { App } from "./components/app.tsx";
import { loadSession } from "./state/session.ts";
import "./styles.css";

void loadSession();
render(<App />, document.getElementById("app")!);
