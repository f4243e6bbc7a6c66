// What went wrong with a form or a page's request, read out as an alert; nothing when all is well.
export function FormError({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p class="form-error" role="alert">
      {message}
    </p>
  );
}
