// Who is here: the participants of the document's activity, each with a colour and "typing…".
export async function startPeople(session, docId, name, colour) {
  const activity = await session.activities.join('document', docId, { state: { colour, typing: false } });
  const list = document.getElementById('people');
  const render = () => {
    list.replaceChildren(
      ...activity.participants().map((p) => {
        const item = document.createElement('li');
        item.dataset.session = p.sessionId;
        const dot = document.createElement('span');
        dot.className = 'dot';
        dot.style.background = p.state.colour ?? '#888';
        const who = document.createElement('span');
        who.className = 'who';
        who.textContent = `${p.user.displayName ?? 'someone'}${p.local ? ' (you)' : ''}`;
        item.append(dot, who);
        if (p.state.typing) {
          const typing = document.createElement('span');
          typing.className = 'typing';
          typing.textContent = 'typing…';
          item.append(typing);
        }
        return item;
      }),
    );
  };
  render();
  activity.on('change', render);
  let idle;
  return {
    /** Marks this session as typing for a moment. */
    typing() {
      // Offline, these fail (the activity is joined again with this state on reconnect).
      if (!activity.state.typing) activity.setState('typing', true).then(render, () => {});
      clearTimeout(idle);
      idle = setTimeout(() => activity.setState('typing', false).then(render, () => {}), 1500);
    },
    /** A session's colour, as it published it. */
    colourOf(sessionId) {
      return activity.participant(sessionId)?.state.colour ?? '#888';
    },
  };
}
