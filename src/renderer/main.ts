import { mount } from 'svelte';
import App from './App.svelte';
import { ChordSession } from './lib/session.svelte';
import { connect } from './lib/transport';
import './app.css';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

const session = new ChordSession(connect());
mount(App, { target, props: { session } });
void session.start();
